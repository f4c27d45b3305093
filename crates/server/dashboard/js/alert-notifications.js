// A rule's notifications (`GET /v1/alerts/{id}/notifications`, newest first): state, delivery
// status, attempts, the last error and each attempt's outcome. Shown in a <details> that loads
// on first opening and refreshes while open.

import { get } from './api.js';
import { h, fill, time, badge, errorBox, loading } from './dom.js';

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
      a.status_code && a.error_class ? h('span', { class: 'err-text' }, ` · ${a.error_class.replace(/_/g, ' ')}`) : null),
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
export function notificationsSection(alert, alive, { open = false } = {}) {
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
