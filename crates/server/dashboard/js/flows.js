// Flows and runs: the flow list, runs with flow and status filters, a run's step-by-step view,
// and Retry for a failed or dead run (it resumes from its failed step).

import { get, post, url } from './api.js';
import { h, fill, table, time, badge, facts, errorBox, loading, section, action, announce, poll } from './dom.js';
import { go, link, reload } from './router.js';
import { stepsTable } from './event.js';

const RUN_STATUSES = ['pending', 'running', 'waiting', 'succeeded', 'filtered', 'failed', 'dead'];
const FINISHED = ['succeeded', 'filtered', 'failed', 'dead'];
const PAGE = 50;

function trigger(t) {
  if (!t) return '—';
  if (t.source) return `source ${t.source}${t.types ? ` (${t.types.join(', ')})` : ''}${t.filter ? ' + filter' : ''}`;
  if (t.event_types) return `event types ${t.event_types.join(', ')}`;
  if (t.cron) return `cron ${t.cron}${t.timezone ? ` ${t.timezone}` : ''}`;
  if (t.manual) return 'manual';
  return JSON.stringify(t);
}

const countSteps = (steps) => (steps || []).reduce((n, s) => n + 1 + countSteps(s.foreach?.steps) + (s.branch || []).reduce((m, arm) => m + countSteps(arm.steps), 0), 0);

function retryButton(run, after) {
  if (!['failed', 'dead'].includes(run.status)) return null;
  return action('Retry', async () => {
    const r = await post(`/v1/runs/${encodeURIComponent(run.id)}/retry`);
    announce(`Run ${run.id} retried from step ${run.failed_step || '?'}; it is ${r.status}.`);
    await after(r);
  }, { what: `Retrying ${run.id}`, cls: 'btn-primary', title: `Retry ${run.id}` });
}

export async function flows(ctx) {
  const box = h('div', {}, loading('Loading flows…'));
  fill(ctx.main, h('h1', {}, 'Flows'),
    h('p', {}, h('a', { href: '#/runs' }, 'All runs →'), ' · ', h('a', { href: link('/runs', { status: 'dead' }) }, 'Dead runs'), ' · ', h('a', { href: link('/runs', { status: 'failed' }) }, 'Failed runs')),
    box);
  try {
    const list = await get('/v1/flows?limit=1000');
    if (!ctx.alive()) return;
    fill(box, table('Flows', [
      { label: 'Name', render: (f) => h('strong', {}, f.name) },
      { label: 'Trigger', render: (f) => trigger(f.trigger) },
      { label: 'Steps', render: (f) => String(countSteps(f.steps)) },
      { label: 'Version', render: (f) => `v${f.version}` },
      { label: 'Updated', render: (f) => time(f.updated_at) },
      { label: 'Runs', render: (f) => h('a', { href: link('/runs', { flow: f.name }) }, `Runs of ${f.name}`) },
    ], list.data, { empty: 'No flows yet. Create one with POST /v1/flows or the config file.' }));
  } catch (e) {
    if (ctx.alive()) fill(box, errorBox(e, 'Listing flows'));
  }
}

export async function runsList(ctx) {
  const q = ctx.query;
  const status = h('select', { id: 'r-status' }, h('option', { value: '' }, 'Any status'),
    RUN_STATUSES.map((s) => h('option', { value: s, selected: q.status === s }, s)));
  const flow = h('input', { id: 'r-flow', type: 'text', value: q.flow || '', placeholder: 'flow name' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    h('div', { class: 'field' }, h('label', { for: 'r-flow' }, 'Flow'), flow),
    h('div', { class: 'field' }, h('label', { for: 'r-status' }, 'Status'), status),
    h('div', { class: 'field field-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters'), h('a', { href: '#/runs', class: 'btn btn-quiet' }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go('/runs', { flow: flow.value.trim(), status: status.value });
  });
  const box = h('div', { id: 'run-results' }, loading('Loading runs…'));
  fill(ctx.main, h('p', {}, h('a', { href: '#/flows' }, '← Flows')), h('h1', {}, 'Runs'), form, box);
  try {
    const page = await get(url('/v1/runs', { flow: q.flow, status: q.status, event: q.event, cursor: q.cursor, limit: PAGE }));
    if (!ctx.alive()) return;
    const { cursor, ...rest } = q;
    fill(box, table('Runs', [
      { label: 'Run', render: (r) => h('a', { href: link(`/runs/${r.id}`), class: 'mono' }, r.id) },
      { label: 'Flow', render: (r) => `${r.flow} v${r.flow_version}` },
      { label: 'Status', render: (r) => badge(r.status) },
      { label: 'Failed step', render: (r) => (r.failed_step ? h('code', {}, r.failed_step) : '—') },
      { label: 'Error', class: 'wide', render: (r) => (r.error ? h('span', { class: 'err-text' }, h('code', {}, r.error.class), ' ', r.error.message ?? '') : '—') },
      { label: 'Started', render: (r) => time(r.started_at) },
      { label: 'Finished', render: (r) => time(r.finished_at) },
      { label: 'Action', render: (r) => retryButton(r, () => go(`/runs/${r.id}`)) },
    ], page.data, { empty: 'No runs match.', rowAttrs: (r) => ({ 'data-run': r.id, 'data-status': r.status }) }),
    h('nav', { class: 'pager', 'aria-label': 'Run pages' },
      cursor ? h('a', { class: 'btn', href: link('/runs', rest) }, '← Newest') : null,
      page.next_cursor ? h('a', { class: 'btn', href: link('/runs', { ...rest, cursor: page.next_cursor }) }, 'Older →') : null));
  } catch (e) {
    if (ctx.alive()) fill(box, errorBox(e, 'Listing runs'));
  }
}

export async function runDetail(ctx) {
  const id = ctx.params.id;
  fill(ctx.main, h('h1', {}, 'Run ', h('code', {}, id)), loading('Loading the run…'));
  let run;
  try {
    run = await get(`/v1/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    if (ctx.alive()) fill(ctx.main, h('h1', {}, 'Run ', h('code', {}, id)), errorBox(e, 'Loading the run'));
    return;
  }
  if (!ctx.alive()) return;
  const head = h('div', { class: 'title-row' }, h('h1', {}, 'Run ', h('code', {}, id)), h('span', { id: 'run-status' }, badge(run.status)));
  const body = h('div', { id: 'run-body', 'aria-live': 'polite' });
  const show = (r) => {
    fill(head.querySelector('#run-status'), badge(r.status));
    head.dataset.status = r.status;
    fill(body,
      h('div', { class: 'actions' }, retryButton(r, async (resumed) => {
        show(resumed);
        const done = await poll(async () => {
          const fresh = await get(`/v1/runs/${encodeURIComponent(id)}`);
          if (ctx.alive()) show(fresh);
          return FINISHED.includes(fresh.status);
        }, { alive: ctx.alive, limit: 120 });
        if (done && ctx.alive()) announce(`Run ${id} is ${head.dataset.status}.`, head.dataset.status === 'succeeded' ? 'ok' : 'warn');
      }), h('button', { type: 'button', class: 'btn', onclick: () => reload() }, 'Refresh')),
      facts([
        ['Flow', h('span', {}, h('a', { href: link('/runs', { flow: r.flow }) }, r.flow), ` version ${r.flow_version}`)],
        ['Trigger event', h('a', { href: link(`/events/${r.event_id}`), class: 'mono' }, r.event_id)],
        ['Started', time(r.started_at)],
        ['Finished', time(r.finished_at)],
        r.failed_step ? ['Failed step', h('code', {}, r.failed_step)] : null,
        r.error ? ['Error', h('span', { class: 'err-text' }, h('code', {}, r.error.class), ' ', r.error.message ?? ''), true] : null,
      ]),
      section('Steps', stepsTable(r)));
  };
  fill(ctx.main, h('p', {}, h('a', { href: link('/runs', { flow: run.flow }) }, `← Runs of ${run.flow}`)), head, body);
  show(run);
  if (!FINISHED.includes(run.status)) {
    poll(async () => {
      const fresh = await get(`/v1/runs/${encodeURIComponent(id)}`);
      if (ctx.alive()) show(fresh);
      return FINISHED.includes(fresh.status);
    }, { alive: ctx.alive, ms: 2000, limit: 150 });
  }
}
