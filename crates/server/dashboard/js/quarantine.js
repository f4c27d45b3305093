// Quarantine review: events whose payload failed their source's JSON Schema, with the
// validation errors, and Release (re-validated against the source's current schema).

import { get, post, url } from './api.js';
import { h, fill, table, time, errorBox, loading, action, announce } from './dom.js';
import { link } from './router.js';

const PAGE = 20;

export async function quarantine(ctx) {
  const q = ctx.query;
  const results = h('div', { id: 'quarantine-results' }, loading('Loading quarantined events…'));
  fill(ctx.main, h('h1', {}, 'Quarantine'),
    h('p', { class: 'muted' }, 'Events that were authentic but failed their source’s JSON Schema. Nothing ran on them. Releasing one checks it again against the source’s current schema; if it passes, it becomes received.'),
    results);
  let page;
  try {
    page = await get(url('/v1/events', { status: 'quarantined', source: q.source, cursor: q.cursor, limit: PAGE }));
  } catch (e) {
    if (ctx.alive()) fill(results, errorBox(e, 'Listing quarantined events'));
    return;
  }
  // The list view has no validation errors; each event's detail does.
  const details = await Promise.all(page.data.map((e) => get(`/v1/events/${encodeURIComponent(e.id)}`).catch(() => null)));
  if (!ctx.alive()) return;
  const byId = Object.fromEntries(details.filter(Boolean).map((d) => [d.id, d]));
  const { cursor, ...rest } = q;
  fill(results,
    table('Quarantined events', [
      { label: 'Event', render: (e) => h('a', { href: link(`/events/${e.id}`), class: 'mono' }, e.id) },
      { label: 'Received', render: (e) => time(e.received_at) },
      { label: 'Source', render: (e) => e.source ?? '—' },
      { label: 'Type', render: (e) => e.type ?? '—' },
      { label: 'Validation errors', class: 'wide', render: (e) => {
        const errs = byId[e.id] && byId[e.id].validation_errors;
        return errs && errs.length ? h('ul', { class: 'errors' }, errs.map((v) => h('li', {}, String(v)))) : h('span', { class: 'muted' }, '—');
      } },
      { label: 'Action', render: (e) => action('Release', async (btn) => {
        await post(`/v1/events/${encodeURIComponent(e.id)}/release`);
        announce(`Event ${e.id} released: it passes the current schema and is now received.`);
        const row = btn.closest('tr');
        if (row) fill(row.lastElementChild, h('span', { class: 'badge badge-ok' }, 'released'));
      }, { what: `Releasing ${e.id}`, title: `Release ${e.id}` }) || h('span', { class: 'muted' }, 'needs a write key') },
    ], page.data, { empty: 'No quarantined events. 🎉', rowAttrs: (e) => ({ 'data-event': e.id }) }),
    h('nav', { class: 'pager', 'aria-label': 'Quarantine pages' },
      cursor ? h('a', { class: 'btn', href: link('/quarantine', rest) }, '← Newest') : null,
      page.next_cursor ? h('a', { class: 'btn', href: link('/quarantine', { ...rest, cursor: page.next_cursor }) }, 'Older →') : null));
}
