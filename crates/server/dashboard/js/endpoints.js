// Endpoints (outbound webhook subscribers) with their health — enabled, circuit breaker,
// 429 pause, failing since, disabled reason, the latest delivery's error — enable/disable and
// secret rotation (the new secret is shown once); and destinations (the APIs flows call).

import { get, post } from './api.js';
import { h, fill, table, time, badge, facts, errorBox, loading, section, action, announce } from './dom.js';
import { link } from './router.js';

async function lastDelivery(id) {
  try {
    const r = await get(`/v1/deliveries?endpoint=${encodeURIComponent(id)}&limit=1`);
    return r.data[0] || null;
  } catch {
    return null;
  }
}

function circuit(c) {
  if (!c || !c.state) return h('span', { class: 'muted' }, 'unknown');
  return h('span', {}, badge(c.state), c.until ? h('span', { class: 'muted' }, ' until ', time(c.until)) : null);
}

function lastError(d) {
  if (!d) return h('span', { class: 'muted' }, 'no deliveries yet');
  if (!d.last_error && (!d.last_status_code || d.last_status_code < 300)) {
    return h('span', {}, badge(d.status), ' ', h('span', { class: 'muted' }, 'latest delivery '), time(d.updated_at));
  }
  return h('span', { class: 'err-text' }, d.last_status_code ? `HTTP ${d.last_status_code} ` : '', d.last_error || '', ' ',
    h('span', { class: 'muted' }, '(', time(d.updated_at), ', ', h('a', { href: link(`/events/${d.event_id}`) }, 'event'), ')'));
}

function card(ep, last, rerender) {
  const box = h('div', { class: 'secret-box', 'aria-live': 'polite' });
  const toggle = action(ep.enabled ? 'Disable' : 'Enable', async () => {
    const updated = await post(`/v1/endpoints/${encodeURIComponent(ep.id)}/${ep.enabled ? 'disable' : 'enable'}`);
    announce(`Endpoint ${ep.name || ep.id} ${updated.enabled ? 'enabled' : 'disabled'}.`);
    rerender(updated);
  }, { what: ep.enabled ? 'Disabling the endpoint' : 'Enabling the endpoint', cls: ep.enabled ? 'btn-danger' : 'btn-primary', title: `${ep.enabled ? 'Disable' : 'Enable'} ${ep.name || ep.id}` });
  const rotate = action('Rotate secret…', async () => {
    const confirm = h('button', { type: 'button', class: 'btn btn-danger' }, 'Rotate now');
    const cancel = h('button', { type: 'button', class: 'btn btn-quiet' }, 'Cancel');
    cancel.addEventListener('click', () => box.replaceChildren());
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      try {
        const r = await post(`/v1/endpoints/${encodeURIComponent(ep.id)}/secret/rotate`);
        const secret = h('input', { type: 'text', readonly: true, value: r.secret || '', id: `secret-${ep.id}`, class: 'mono', 'aria-label': 'New signing secret' });
        const copy = h('button', { type: 'button', class: 'btn' }, 'Copy');
        copy.addEventListener('click', async () => {
          secret.select();
          try { await navigator.clipboard.writeText(secret.value); announce('Secret copied.'); } catch { announce('Select the secret and copy it.', 'warn'); }
        });
        fill(box, h('div', { class: 'notice notice-warn' },
          h('strong', {}, 'New signing secret — shown once. '), 'Store it now; the old secret keeps signing for 24 hours.',
          h('div', { class: 'inline' }, secret, copy)));
        announce(`Secret of ${ep.name || ep.id} rotated. The new secret is shown once.`);
      } catch (e) {
        fill(box, errorBox(e, 'Rotating the secret'));
      }
    });
    fill(box, h('div', { class: 'notice notice-warn' }, 'Rotate the signing secret? Receivers must learn the new one within the grace period (24 h). ', confirm, ' ', cancel));
    confirm.focus();
  }, { what: 'Rotating the secret' });
  const title = ep.name || ep.id;
  return h('article', { class: 'card', 'data-endpoint': ep.id, 'aria-labelledby': `ep-${ep.id}` },
    h('div', { class: 'title-row' }, h('h3', { id: `ep-${ep.id}` }, title), badge(ep.enabled ? 'enabled' : 'disabled')),
    h('p', { class: 'mono small wrap' }, ep.url),
    facts([
      ep.name ? ['Id', h('code', {}, ep.id)] : null,
      ['Circuit', circuit(ep.circuit)],
      ['Paused until', ep.paused_until ? time(ep.paused_until) : h('span', { class: 'muted' }, 'not paused')],
      ['Failing since', ep.failing_since ? time(ep.failing_since) : h('span', { class: 'muted' }, 'not failing')],
      ep.disabled_reason ? ['Disabled because', ep.disabled_reason] : null,
      ['Last error', lastError(last)],
      ['Event types', (ep.event_types || []).join(', ') || 'all'],
      ep.sources && ep.sources.length ? ['Forwards sources', ep.sources.join(', ')] : null,
      ['In flight', String(ep.in_flight ?? 0)],
    ]),
    h('div', { class: 'actions' }, toggle, rotate),
    box);
}

export async function endpoints(ctx) {
  const epBox = h('div', { id: 'endpoint-list' }, loading('Loading endpoints…'));
  const dstBox = h('div', { id: 'destination-list' }, loading('Loading destinations…'));
  fill(ctx.main, h('h1', {}, 'Endpoints and destinations'),
    section('Endpoints', h('p', { class: 'muted' }, 'Outbound webhook subscribers and their health.'), epBox),
    section('Destinations', h('p', { class: 'muted' }, 'APIs that flows call. Credentials are write-only and never shown.'), dstBox));

  try {
    const list = await get('/v1/endpoints?limit=1000');
    const lasts = await Promise.all(list.data.map((e) => lastDelivery(e.id)));
    if (!ctx.alive()) return;
    if (!list.data.length) fill(epBox, h('p', { class: 'empty' }, 'No endpoints yet. Create one with POST /v1/endpoints.'));
    else {
      fill(epBox, h('div', { class: 'cards' }, list.data.map((ep, i) => {
        let node;
        const rerender = (updated) => { const next = card(updated, lasts[i], rerender); node.replaceWith(next); node = next; next.querySelector('.actions button')?.focus(); };
        node = card(ep, lasts[i], rerender);
        return node;
      })));
    }
  } catch (e) {
    if (ctx.alive()) fill(epBox, errorBox(e, 'Listing endpoints'));
  }

  try {
    const list = await get('/v1/destinations?limit=1000');
    if (!ctx.alive()) return;
    fill(dstBox, table('Destinations', [
      { label: 'Name', render: (d) => h('strong', {}, d.name) },
      { label: 'Base URL', class: 'wide', render: (d) => h('span', { class: 'mono small wrap' }, d.base_url) },
      { label: 'Auth', render: (d) => (d.auth ? d.auth.kind : 'none') },
      { label: 'Concurrency', render: (d) => String(d.max_concurrency ?? 16) },
      { label: 'Rate limit', render: (d) => (d.rate_limit_per_second ? `${d.rate_limit_per_second}/s` : '—') },
      { label: 'Timeout', render: (d) => `${d.timeout_seconds ?? 15} s` },
      { label: 'Retry schedule', render: (d) => (d.retry_schedule_seconds ? d.retry_schedule_seconds.join(', ') : 'default') },
    ], list.data, { empty: 'No destinations yet.' }));
  } catch (e) {
    if (ctx.alive()) fill(dstBox, errorBox(e, 'Listing destinations'));
  }
}
