// Alerts: each rule with its state up front (firing: since when, what holds and where; ok),
// its rule, channel (URLs come masked), cooldown, whether it is enabled and when it last
// notified; Enable/Disable for write keys; and per rule its recent notifications with their
// attempt logs. Refreshed every 5 s while shown (rules are judged every 5 s by default). A
// server without alerts answers 404, shown as a plain note.

import { get, patch, ApiError } from './api.js';
import { h, fill, time, ago, badge, facts, errorBox, loading, action, announce } from './dom.js';
import { link } from './router.js';

const REFRESH_MS = 5000;

// A rule's notifications (`GET /v1/alerts/{id}/notifications`, newest first): state, delivery
// status, attempts, the last error and each attempt's outcome. Shown in a <details> that loads
// on first opening and refreshes while open.

function attemptOutcome(a) {
  if (a.status_code) return h('span', { class: a.status_code < 300 ? '' : 'err-text' }, `HTTP ${a.status_code}`);
  if (a.error_class) return h('span', { class: 'err-text' }, a.error_class.replace(/_/g, ' '));
  return h('span', { class: 'muted' }, 'no answer');
}

function attemptLog(log) {
  if (!log || !log.length) return h('p', { class: 'muted small' }, 'Not attempted yet.');
  return h('ol', { class: 'attempt-log', 'aria-label': 'Attempt log' }, log.map((a, i) => h('li', { 'data-notification-attempt': String(i + 1) },
    h('span', { class: 'tl-head' },
      h('strong', {}, `#${i + 1}`), time(a.at), ' · ', attemptOutcome(a),
      a.duration_ms !== null && a.duration_ms !== undefined ? h('span', { class: 'muted' }, ` · ${a.duration_ms} ms`) : null,
      a.status_code && a.error_class && a.error_class !== `http_${a.status_code}` ? h('span', { class: 'err-text' }, ` · ${a.error_class.replace(/_/g, ' ')}`) : null),
    a.response_excerpt ? h('pre', { class: 'code small', tabindex: '0' }, a.response_excerpt) : null)));
}

function notification(n) {
  const head = h('div', { class: 'tl-head' },
    badge(n.state), badge(n.status),
    h('span', { class: 'muted' }, `${n.attempts} attempt${n.attempts === 1 ? '' : 's'} · queued `), time(n.created_at),
    n.status === 'pending' && n.next_attempt_at ? h('span', { class: 'muted' }, ' · next try ', time(n.next_attempt_at)) : null,
    h('code', { class: 'muted small' }, n.id));
  return h('li', { class: 'notification', 'data-notification': n.id, 'data-status': n.status, 'data-state': n.state },
    head,
    n.body && n.body.what ? h('p', { class: 'small notif-what' }, n.body.what) : null,
    n.last_error ? h('p', { class: 'err-text small' }, h('strong', {}, 'Last error: '), n.last_error) : null,
    attemptLog(n.attempt_log));
}

/**
 * The expandable section of one rule. `alive()` stops its refreshes; returns {node, refresh}
 * where refresh() reloads it if it is open (and re-renders only on change).
 */
function notificationsSection(alert, alive, { open = false } = {}) {
  const body = h('div', { class: 'notif-body' });
  const summary = h('summary', {}, 'Notifications');
  const details = h('details', { class: 'notifs', 'data-notifications': alert.id }, summary, body);
  let last = null;
  let loaded = false;

  const load = async () => {
    if (!details.open || !alive()) return;
    if (!loaded) fill(body, loading('Loading notifications…'));
    try {
      const r = await get(`/v1/alerts/${encodeURIComponent(alert.id)}/notifications`);
      if (!alive()) return;
      const text = JSON.stringify(r.data);
      if (loaded && text === last) return;
      last = text;
      loaded = true;
      const sent = r.data.filter((n) => n.status === 'succeeded').length;
      const pending = r.data.filter((n) => n.status === 'pending').length;
      summary.textContent = `Notifications (${r.data.length}${pending ? `, ${pending} pending` : ''})`;
      if (!r.data.length) {
        fill(body, h('p', { class: 'empty' }, alert.enabled
          ? 'None sent yet. A notification is sent when the rule starts firing and when it resolves.'
          : 'None sent yet. The rule is disabled, so it sends none.'));
        return;
      }
      fill(body,
        h('p', { class: 'muted small' }, `The ${r.data.length} most recent, newest first · ${sent} delivered.`),
        h('ol', { class: 'notif-list' }, r.data.map(notification)));
    } catch (e) {
      if (alive()) { loaded = false; last = null; fill(body, errorBox(e, 'Listing notifications')); }
    }
  };
  details.addEventListener('toggle', () => { if (details.open) load(); });
  if (open) details.open = true;
  return { node: details, refresh: load, isOpen: () => details.open };
}


function scopeText(scope) {
  if (!scope) return 'every source, endpoint, flow and destination';
  return Object.entries(scope).map(([k, v]) => `${k} ${v}`).join(', ');
}

/** The rule in words. */
export function ruleText(r) {
  if (!r) return '—';
  switch (r.kind) {
    case 'failure_ratio':
      return `failure ratio ≥ ${Math.round((r.threshold ?? 0) * 100)}% over ${r.window_seconds ?? 300} s (at least ${r.min_count ?? 10} outcome${(r.min_count ?? 10) === 1 ? '' : 's'}) · ${scopeText(r.scope)}`;
    case 'queue_age': return `a queued job has waited longer than ${r.seconds} s`;
    case 'signature_failures': return `${r.count} or more signature failures within ${r.window_seconds} s`;
    case 'endpoint_disabled': return 'Switchyard disabled an endpoint (gone, or failing too long)';
    case 'circuit_open': return 'an endpoint’s circuit breaker is open';
    case 'credentials_rejected': return 'an endpoint or destination rejects its credentials';
    case 'quarantined': return 'events wait in quarantine for review';
    default: return r.kind || JSON.stringify(r);
  }
}

function channelText(c) {
  if (!c) return '—';
  if (c.kind === 'email') return h('span', {}, 'email to ', h('span', { class: 'wrap' }, (c.to || []).join(', ') || '—'));
  return h('span', {}, `${c.kind} `, h('code', { title: 'The URL is write-only and never shown' }, c.url || '********'));
}

/** The dashboard page for a place a rule holds for. */
function placeLink(p) {
  const name = p.name || p.id;
  switch (p.kind) {
    case 'endpoint':
    case 'destination': return link('/endpoints');
    case 'source': return link('/events', { source: name });
    case 'flow': return link('/runs', { flow: name });
    case 'quarantine': return link('/quarantine');
    case 'queue': return link('/');
    default: return null;
  }
}

function places(where) {
  if (!where || !where.length) return null;
  return h('ul', { class: 'places', 'aria-label': 'Where' }, where.map((p) => {
    const href = placeLink(p);
    const label = p.kind === (p.name || p.id) ? p.kind : `${p.kind} ${p.name || p.id}`;
    return h('li', { 'data-place': p.kind }, href ? h('a', { href }, label) : label);
  }));
}

/** The state banner: red while firing (since, what, where), green when ok, grey when disabled. */
function stateBanner(a) {
  const since = a.since ? h('span', {}, ' since ', time(a.since), ` (${ago(new Date(a.since))})`) : null;
  const d = a.detail || {};
  if (!a.enabled) {
    return h('div', { class: 'alert-state alert-off', 'data-role': 'state' },
      h('p', { class: 'alert-state-head' }, h('span', { class: 'state-word' }, 'Disabled'),
        a.state === 'firing' ? ' · still marked firing until the next check' : ' · not judged, sends no notifications'),
      d.what ? h('p', { class: 'small' }, 'Last fired for: ', d.what) : null);
  }
  if (a.state === 'firing') {
    return h('div', { class: 'alert-state alert-firing', 'data-role': 'state' },
      h('p', { class: 'alert-state-head' }, h('span', { class: 'state-word' }, 'Firing'), since),
      d.what ? h('p', { class: 'alert-what' }, d.what) : null,
      places(d.where));
  }
  return h('div', { class: 'alert-state alert-ok', 'data-role': 'state' },
    h('p', { class: 'alert-state-head' }, h('span', { class: 'state-word' }, 'OK'), since || ' · not holding'),
    d.what ? h('p', { class: 'small' }, 'Last fired for: ', d.what) : null);
}

const tone = (a) => (!a.enabled ? 'off' : a.state === 'firing' ? 'firing' : 'ok');

function card(a, alive, rerender, { open = false } = {}) {
  const notifs = notificationsSection(a, alive, { open });
  const toggle = action(a.enabled ? 'Disable' : 'Enable', async () => {
    const updated = await patch(`/v1/alerts/${encodeURIComponent(a.id)}`, { enabled: !a.enabled });
    announce(`Alert rule ${updated.name} ${updated.enabled ? 'enabled: it notifies again' : 'disabled: it sends no notifications'}.`);
    rerender(updated, true);
  }, {
    what: a.enabled ? 'Disabling the alert rule' : 'Enabling the alert rule',
    cls: a.enabled ? 'btn-danger' : 'btn-primary',
    title: `${a.enabled ? 'Disable' : 'Enable'} ${a.name}`,
  });
  const node = h('article', {
    class: `card alert-card alert-card-${tone(a)}`,
    'data-alert': a.id, 'data-state': a.state, 'data-enabled': String(a.enabled), 'aria-labelledby': `al-${a.id}`,
  },
  h('div', { class: 'title-row' },
    h('h3', { id: `al-${a.id}` }, a.name),
    a.enabled ? h('span', { class: `badge badge-lg badge-${a.state === 'firing' ? 'bad' : 'ok'}` }, a.state || 'unknown') : null,
    a.enabled ? null : h('span', { class: 'badge badge-lg badge-muted' }, 'disabled')),
  stateBanner(a),
  facts([
    ['Rule', ruleText(a.rule), true],
    ['Channel', channelText(a.channel)],
    ['Cooldown', `${a.cooldown_seconds ?? 300} s`],
    ['Enabled', a.enabled ? 'yes' : h('span', {}, 'no ', h('span', { class: 'muted' }, '(no notifications)'))],
    ['Last notified', time(a.last_notified_at)],
    ['Id', h('code', {}, a.id)],
  ]),
  toggle ? h('div', { class: 'actions' }, toggle) : null,
  notifs.node);
  return { node, notifs, data: JSON.stringify(a) };
}

function summary(list) {
  const firing = list.filter((a) => a.state === 'firing' && a.enabled).length;
  const off = list.filter((a) => !a.enabled).length;
  return h('p', { class: 'alert-summary', 'data-firing': String(firing) },
    firing ? h('span', { class: 'badge badge-lg badge-bad' }, `${firing} firing`) : h('span', { class: 'badge badge-lg badge-ok' }, 'nothing firing'),
    ` · ${list.length} rule${list.length === 1 ? '' : 's'}`,
    off ? ` · ${off} disabled` : '');
}

export async function alerts(ctx) {
  const box = h('div', { id: 'alert-list' }, loading('Loading alert rules…'));
  fill(ctx.main, h('h1', {}, 'Alerts'),
    h('p', { class: 'muted' }, 'Rules notify once when they start to hold (firing) and once when they stop (resolved); the cooldown spaces repeated firings. Refreshed every 5 s.'),
    box);

  // id → {node, notifs, data}; kept across refreshes so open notification sections stay open.
  const shown = new Map();
  let head = null;
  let grid = null;

  const place = (a, focusToggle = false) => {
    const old = shown.get(a.id);
    const open = old ? old.notifs.isOpen() : false;
    const hadFocus = old && old.node.contains(document.activeElement);
    const next = card(a, ctx.alive, (updated, focus) => place(updated, focus), { open });
    if (old) old.node.replaceWith(next.node);
    else grid.append(next.node);
    shown.set(a.id, next);
    if (open) next.notifs.refresh();
    if (focusToggle || hadFocus) (next.node.querySelector('.actions button') || next.node.querySelector('summary'))?.focus();
    return next;
  };

  const render = (list) => {
    if (!list.length) {
      shown.clear();
      head = grid = null;
      fill(box, h('p', { class: 'empty' }, 'No alert rules yet. Add them with POST /v1/alerts or alerts: in the config file.'));
      return;
    }
    if (!grid) {
      head = h('div');
      grid = h('div', { class: 'cards alert-cards' });
      fill(box, head, grid);
    }
    fill(head, summary(list));
    const ids = new Set(list.map((a) => a.id));
    for (const [id, c] of shown) if (!ids.has(id)) { c.node.remove(); shown.delete(id); }
    for (const a of list) {
      const old = shown.get(a.id);
      if (!old || old.data !== JSON.stringify(a)) place(a);
      else if (old.notifs.isOpen()) old.notifs.refresh();
    }
    // Firing rules first, then the rest in the server's order; nodes move only when it changed
    // (a moved node loses focus).
    const order = [...list].sort((x, y) => (tone(x) === 'firing' ? 0 : 1) - (tone(y) === 'firing' ? 0 : 1)).map((a) => shown.get(a.id).node);
    if (order.some((n, i) => grid.children[i] !== n)) {
      const focused = document.activeElement;
      grid.append(...order);
      if (focused && grid.contains(focused)) focused.focus({ preventScroll: true });
    }
  };

  const load = async (first) => {
    try {
      const list = await get('/v1/alerts?limit=100');
      if (ctx.alive()) render(list.data);
    } catch (e) {
      if (!ctx.alive()) return;
      if (!first && !(e instanceof ApiError && e.status === 404)) return; // a failed refresh keeps what is shown
      shown.clear();
      head = grid = null;
      if (e instanceof ApiError && e.status === 404) {
        fill(box, h('div', { class: 'notice notice-warn' }, 'This server does not offer alerts yet (GET /v1/alerts answered 404).'));
      } else {
        fill(box, errorBox(e, 'Listing alerts'));
      }
    }
  };
  await load(true);
  ctx.every(REFRESH_MS, () => load(false));
}
