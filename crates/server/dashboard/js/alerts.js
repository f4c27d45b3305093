// Alerts: each rule with its channel and state (`GET /v1/alerts`). A server without alerts yet
// answers 404, shown as a plain note.

import { get, url, ApiError } from './api.js';
import { h, fill, table, time, badge, errorBox, loading } from './dom.js';
import { link } from './router.js';

function rule(r) {
  if (!r) return '—';
  switch (r.kind) {
    case 'failure_ratio': {
      const scope = r.scope ? Object.entries(r.scope).map(([k, v]) => `${k} ${v}`).join(', ') : 'everything';
      return `failure ratio ≥ ${Math.round((r.threshold ?? 0) * 100)}% over ${r.window_seconds ?? '?'} s (at least ${r.min_count ?? '?'}) · ${scope}`;
    }
    case 'queue_age': return `a queued job older than ${r.seconds} s`;
    case 'signature_failures': return `${r.count} signature failures in ${r.window_seconds} s`;
    case 'endpoint_disabled': return 'an endpoint is disabled';
    case 'circuit_open': return 'a circuit breaker opens';
    case 'credentials_rejected': return 'a destination rejects its credentials';
    case 'quarantined': return 'an event is quarantined';
    default: return r.kind || JSON.stringify(r);
  }
}

function channel(c) {
  if (!c) return '—';
  if (c.kind === 'email') return `email ${(c.to || []).join(', ')}`;
  return c.kind;
}

export async function alerts(ctx) {
  const box = h('div', { id: 'alert-list' }, loading('Loading alert rules…'));
  fill(ctx.main, h('h1', {}, 'Alerts'),
    h('p', { class: 'muted' }, 'Rules notify once when they start to hold (firing) and once when they stop (resolved).'), box);
  try {
    const list = await get(url('/v1/alerts', { cursor: ctx.query.cursor, limit: 100 }));
    if (!ctx.alive()) return;
    const firing = list.data.filter((a) => a.state === 'firing').length;
    fill(box,
      h('p', {}, firing ? h('strong', {}, `${firing} firing`) : 'Nothing is firing.', ` · ${list.data.length} rule${list.data.length === 1 ? '' : 's'}`),
      table('Alert rules', [
        { label: 'Name', render: (a) => h('strong', {}, a.name) },
        { label: 'State', render: (a) => badge(a.state) },
        { label: 'Since', render: (a) => time(a.since) },
        { label: 'Rule', class: 'wide', render: (a) => rule(a.rule) },
        { label: 'Channel', render: (a) => channel(a.channel) },
        { label: 'Cooldown', render: (a) => `${a.cooldown_seconds ?? 300} s` },
        { label: 'Last notified', render: (a) => time(a.last_notified_at) },
      ], list.data, { empty: 'No alert rules yet. Add them with POST /v1/alerts or alerts: in the config file.', rowAttrs: (a) => ({ 'data-alert': a.id, 'data-state': a.state }) }),
      list.next_cursor ? h('nav', { class: 'pager', 'aria-label': 'Alert pages' }, h('a', { class: 'btn', href: link('/alerts', { cursor: list.next_cursor }) }, 'More →')) : null);
  } catch (e) {
    if (!ctx.alive()) return;
    if (e instanceof ApiError && e.status === 404) {
      fill(box, h('div', { class: 'notice notice-warn' }, 'This server does not offer alerts yet (GET /v1/alerts answered 404).'));
    } else {
      fill(box, errorBox(e, 'Listing alerts'));
    }
  }
}
