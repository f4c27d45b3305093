// Events explorer: filters (source, status, type, since, until), search by event id (opens it)
// or by dedup key (`?dedup_key=`), and cursor pagination (`next_cursor`). The filters live in
// the URL hash, so a filtered view is a link.

import { get, url } from './api.js';
import { h, fill, table, time, badge, errorBox, loading } from './dom.js';
import { go, link } from './router.js';

const STATUSES = ['received', 'processed', 'failed', 'quarantined'];
const PAGE = 50;

/** `2026-12-05T12:00` (an <input type=datetime-local> read as UTC) → RFC 3339, and back. */
const toIso = (v) => (v ? `${v}:00Z` : '');
const fromIso = (v) => (v ? v.replace(/Z$/, '').slice(0, 16) : '');

/** Source names for the filter; without them the filter still takes what the hash names. */
async function sources() {
  try {
    const r = await get('/v1/sources?limit=1000');
    return r.data.map((s) => s.name).sort();
  } catch {
    return [];
  }
}

function field(id, label, control) {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

export function eventRows(rows, { caption = 'Events', extra = [] } = {}) {
  return table(caption, [
    { label: 'Event', render: (e) => h('a', { href: link(`/events/${e.id}`), class: 'mono' }, e.id) },
    { label: 'Received', render: (e) => time(e.received_at) },
    { label: 'Source', render: (e) => e.source ?? h('span', { class: 'muted' }, 'published') },
    { label: 'Type', render: (e) => e.type ?? h('span', { class: 'muted' }, '—') },
    { label: 'Status', render: (e) => badge(e.status) },
    ...extra,
  ], rows, { empty: 'No events match.' });
}

export async function eventsList(ctx) {
  const q = ctx.query;
  const names = await sources();
  if (!ctx.alive()) return;

  const source = h('select', { id: 'f-source', name: 'source' }, h('option', { value: '' }, 'Any source'),
    names.map((n) => h('option', { value: n, selected: q.source === n }, n)));
  if (q.source && !names.includes(q.source)) source.append(h('option', { value: q.source, selected: true }, q.source));
  const status = h('select', { id: 'f-status', name: 'status' }, h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: q.status === s }, s)));
  const type = h('input', { id: 'f-type', name: 'type', type: 'text', value: q.type || '', placeholder: 'e.g. order.created' });
  const since = h('input', { id: 'f-since', name: 'since', type: 'datetime-local', value: fromIso(q.since) });
  const until = h('input', { id: 'f-until', name: 'until', type: 'datetime-local', value: fromIso(q.until) });
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter events' },
    field('f-source', 'Source', source),
    field('f-status', 'Status', status),
    field('f-type', 'Type', type),
    field('f-since', 'Since (UTC)', since),
    field('f-until', 'Until (UTC)', until),
    h('div', { class: 'field field-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters'),
      h('a', { href: '#/events', class: 'btn btn-quiet' }, 'Clear')));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go('/events', { source: source.value, status: status.value, type: type.value.trim(), since: toIso(since.value), until: toIso(until.value) });
  });

  const term = h('input', { id: 'search', name: 'q', type: 'search', value: q.dedup_key || '', placeholder: 'evt_… or a dedup key', 'aria-describedby': 'search-help' });
  const search = h('form', { class: 'searchbar', role: 'search', 'aria-label': 'Find an event' },
    h('label', { for: 'search' }, 'Event id or dedup key'),
    h('div', { class: 'inline' }, term, h('button', { type: 'submit', class: 'btn' }, 'Find')),
    h('p', { id: 'search-help', class: 'muted' }, 'An event id opens that event; anything else lists the events with that dedup key.'));
  search.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = term.value.trim();
    if (/^evt_[A-Za-z0-9]+$/.test(v)) go(`/events/${v}`);
    else go('/events', { dedup_key: v });
  });

  const results = h('div', { id: 'event-results', 'aria-live': 'polite' }, loading('Loading events…'));
  fill(ctx.main, h('h1', {}, 'Events'), search, filters, results);

  const params = {
    source: q.source, status: q.status, type: q.type, since: q.since, until: q.until,
    dedup_key: q.dedup_key, cursor: q.cursor, limit: PAGE,
  };
  try {
    const page = await get(url('/v1/events', params));
    if (!ctx.alive()) return;
    const { cursor, ...rest } = q;
    const nav = h('nav', { class: 'pager', 'aria-label': 'Event pages' },
      cursor ? h('a', { class: 'btn', href: link('/events', rest) }, '← Newest') : null,
      page.next_cursor ? h('a', { class: 'btn', href: link('/events', { ...rest, cursor: page.next_cursor }), rel: 'next' }, 'Older →') : null);
    const what = q.dedup_key ? `Events with dedup key “${q.dedup_key}”` : 'Events, newest first';
    fill(results, h('p', { class: 'muted' }, `${what}: ${page.data.length} shown${page.next_cursor ? ', more on the next page' : ''}.`),
      eventRows(page.data), nav);
  } catch (e) {
    if (ctx.alive()) fill(results, errorBox(e, 'Listing events'));
  }
}
