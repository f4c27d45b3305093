// Event detail: the payload, redacted headers and the timeline receipt → runs → steps →
// deliveries → attempts, with Replay (after which the new attempt appears) and, for a
// quarantined event, Release.

import { get, post } from './api.js';
import { h, fill, table, time, badge, json, facts, errorBox, loading, section, action, announce, poll } from './dom.js';
import { link, reload } from './router.js';

async function endpointNames() {
  try {
    const r = await get('/v1/endpoints?limit=1000');
    return Object.fromEntries(r.data.map((e) => [e.id, e.name || e.url]));
  } catch {
    return {};
  }
}

function receipts(ev) {
  return h('ol', { class: 'timeline' }, (ev.timeline || []).map((t) => h('li', {},
    h('div', { class: 'tl-head' }, time(t.at), ' ', badge(t.state), t.status_code ? h('span', { class: 'muted' }, ` HTTP ${t.status_code}`) : null),
    t.detail ? h('div', {}, t.detail) : null,
    t.request_id ? h('div', { class: 'muted small' }, 'request ', h('code', {}, t.request_id)) : null)));
}

export function stepsTable(run) {
  return table(`Steps of ${run.id}`, [
    { label: 'Step', render: (s) => h('code', {}, s.path || s.id) },
    { label: 'Status', render: (s) => badge(s.status) },
    { label: 'Attempts', render: (s) => String(s.attempts ?? 0) },
    { label: 'Output or error', class: 'wide', render: (s) => (s.error ? h('div', { class: 'err-text' }, h('code', {}, s.error.class), ': ', s.error.message ?? '') : s.output !== null && s.output !== undefined ? json(s.output) : h('span', { class: 'muted' }, '—')) },
    { label: 'Started', render: (s) => time(s.started_at) },
    { label: 'Finished', render: (s) => time(s.finished_at) },
  ], run.steps || [], { empty: 'No step has started yet.', rowAttrs: (s) => ({ 'data-step': s.path || s.id, 'data-status': s.status }) });
}

async function runs(ev) {
  if (!ev.runs || !ev.runs.length) return h('p', { class: 'empty' }, 'This event started no flow runs.');
  const full = await Promise.all(ev.runs.map((r) => get(`/v1/runs/${encodeURIComponent(r.id)}`).catch(() => r)));
  return h('ol', { class: 'timeline' }, full.map((r) => h('li', {},
    h('div', { class: 'tl-head' }, h('a', { href: link(`/runs/${r.id}`), class: 'mono' }, r.id), ' flow ', h('strong', {}, r.flow), ` v${r.flow_version} `, badge(r.status), ' ', time(r.started_at)),
    r.error ? h('div', { class: 'err-text' }, `Failed at ${r.failed_step || '?'}: `, h('code', {}, r.error.class), ' ', r.error.message ?? '') : null,
    r.steps ? stepsTable(r) : null)));
}

export function attemptsTable(d, attempts) {
  return table(`Attempts of ${d.id}`, [
    { label: '#', render: (a) => String(attempts.indexOf(a) + 1) },
    { label: 'At', render: (a) => time(a.at) },
    { label: 'Duration', render: (a) => (a.duration_ms === null || a.duration_ms === undefined ? '—' : `${a.duration_ms} ms`) },
    { label: 'Status code', render: (a) => (a.status_code ? String(a.status_code) : h('span', { class: 'muted' }, '—')) },
    { label: 'Error class', render: (a) => (a.error_class ? h('code', {}, a.error_class) : h('span', { class: 'muted' }, '—')) },
    { label: 'Response excerpt', class: 'wide', render: (a) => (a.response_excerpt ? h('pre', { class: 'code small' }, a.response_excerpt) : h('span', { class: 'muted' }, '—')) },
  ], attempts, { empty: 'No attempt yet.', rowAttrs: (a) => ({ 'data-attempt': a.id || a.at }) });
}

async function deliveries(ev, names) {
  const list = await get(`/v1/deliveries?event=${encodeURIComponent(ev.id)}&limit=100`);
  if (!list.data.length) return { node: h('p', { class: 'empty' }, 'No deliveries: no endpoint subscribed to this event.'), attempts: 0 };
  const withAttempts = await Promise.all(list.data.map(async (d) => ({ d, a: (await get(`/v1/deliveries/${encodeURIComponent(d.id)}/attempts`)).data })));
  const total = withAttempts.reduce((n, x) => n + x.a.length, 0);
  const node = h('ol', { class: 'timeline' }, withAttempts.map(({ d, a }) => h('li', { 'data-delivery': d.id },
    h('div', { class: 'tl-head' }, h('code', {}, d.id), ' to ', h('strong', {}, names[d.endpoint_id] || d.endpoint_id), ' ', badge(d.status),
      h('span', { class: 'muted' }, ` · ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`),
      d.next_attempt_at ? h('span', { class: 'muted' }, ' · next ', time(d.next_attempt_at)) : null),
    d.last_error ? h('div', { class: 'err-text' }, 'Last error: ', d.last_error) : null,
    h('h4', {}, `Attempts (${a.length})`),
    attemptsTable(d, a))));
  return { node, attempts: total };
}

export async function eventDetail(ctx) {
  const id = ctx.params.id;
  fill(ctx.main, h('h1', {}, 'Event ', h('code', {}, id)), loading('Loading the event…'));
  let ev;
  try {
    ev = await get(`/v1/events/${encodeURIComponent(id)}`);
  } catch (e) {
    if (ctx.alive()) fill(ctx.main, h('h1', {}, 'Event ', h('code', {}, id)), errorBox(e, 'Loading the event'), h('p', {}, h('a', { href: '#/events' }, '← All events')));
    return;
  }
  if (!ctx.alive()) return;
  const names = await endpointNames();
  const runsBox = h('div', {}, loading('Loading runs…'));
  const delBox = h('div', { id: 'deliveries', 'aria-live': 'polite' }, loading('Loading deliveries…'));
  let attemptCount = 0;

  const loadDeliveries = async () => {
    try {
      const { node, attempts } = await deliveries(ev, names);
      if (ctx.alive()) fill(delBox, node);
      attemptCount = attempts;
      return attempts;
    } catch (e) {
      if (ctx.alive()) fill(delBox, errorBox(e, 'Loading deliveries'));
      return attemptCount;
    }
  };
  const loadRuns = async () => {
    try {
      const fresh = await get(`/v1/events/${encodeURIComponent(id)}`);
      ev.runs = fresh.runs;
      const node = await runs(ev);
      if (ctx.alive()) fill(runsBox, node);
    } catch (e) {
      if (ctx.alive()) fill(runsBox, errorBox(e, 'Loading runs'));
    }
  };

  const replay = action('Replay', async () => {
    const before = attemptCount;
    const r = await post(`/v1/events/${encodeURIComponent(id)}/replay`);
    if (!r.replayed) {
      announce('Nothing to replay: this event has no deliveries that can be sent again right now.', 'warn');
      return;
    }
    announce(`Replay queued for ${r.replayed} deliver${r.replayed === 1 ? 'y' : 'ies'}; waiting for the new attempt…`);
    const seen = await poll(async () => (await loadDeliveries()) > before, { alive: ctx.alive, limit: 60 });
    if (ctx.alive()) announce(seen ? 'The replayed delivery was attempted; its new attempt is listed below.' : 'The replay is queued; refresh later to see its attempt.', seen ? 'ok' : 'warn');
  }, { what: 'Replay', cls: 'btn-primary' });
  const release = ev.status === 'quarantined' ? action('Release', async () => {
    await post(`/v1/events/${encodeURIComponent(id)}/release`);
    announce(`Event ${id} released: it passed its source’s current schema and is now received.`);
    reload();
  }, { what: 'Release', cls: 'btn-primary' }) : null;
  const refresh = h('button', { type: 'button', class: 'btn' }, 'Refresh');
  refresh.addEventListener('click', () => { loadDeliveries(); loadRuns(); });

  fill(ctx.main,
    h('p', {}, h('a', { href: '#/events' }, '← All events')),
    h('div', { class: 'title-row' }, h('h1', {}, 'Event ', h('code', {}, id)), badge(ev.status)),
    h('div', { class: 'actions' }, replay, release, refresh),
    facts([
      ['Source', ev.source ?? 'published (POST /v1/events)'],
      ['Type', ev.type ?? '—'],
      ['Received', time(ev.received_at)],
      ['Content type', ev.content_type ?? '—'],
      ['Request id', h('code', {}, ev.request_id ?? '—')],
      ev.payload_encoding && ev.payload_encoding !== 'json' ? ['Payload encoding', ev.payload_encoding] : null,
    ]),
    ev.validation_errors && ev.validation_errors.length ? section('Validation errors', h('ul', { class: 'errors' }, ev.validation_errors.map((v) => h('li', {}, String(v))))) : null,
    section('Timeline',
      h('h3', {}, 'Receipt'), receipts(ev),
      h('h3', {}, 'Flow runs and steps'), runsBox,
      h('h3', {}, 'Deliveries and attempts'), delBox),
    section('Payload', json(ev.payload)),
    section('Headers (secrets redacted)', table('Headers', [
      { label: 'Name', render: ([k]) => h('code', {}, k) },
      { label: 'Value', class: 'wide', render: ([, v]) => (typeof v === 'string' ? v : JSON.stringify(v)) },
    ], Object.entries(ev.headers || {}), { empty: 'No headers were kept.' })));
  await Promise.all([loadDeliveries(), loadRuns()]);
}
