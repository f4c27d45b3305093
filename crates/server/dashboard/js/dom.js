// DOM helpers. Everything the API returns is attacker-influenced (payloads, headers, names), so
// it only ever reaches the page as text nodes and attribute values — never as markup.

import { ApiError, can } from './api.js';

/** h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** 2026-12-05 12:46:31 UTC in a <time> element (null shows a dash). */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(iso));
  const text = d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace('Z', ' UTC');
  return h('time', { datetime: iso, title: ago(d) }, text);
}

export function ago(d) {
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const abs = Math.abs(s);
  const unit = abs < 90 ? `${abs} s` : abs < 5400 ? `${Math.round(abs / 60)} min` : abs < 172800 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return s >= 0 ? `${unit} ago` : `in ${unit}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Number(seconds);
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const TONES = {
  received: 'info', processed: 'ok', succeeded: 'ok', ok: 'ok', closed: 'ok', enabled: 'ok', resolved: 'ok',
  pending: 'info', running: 'info', waiting: 'info', half_open: 'warn', filtered: 'muted', duplicate: 'muted',
  quarantined: 'warn', paused: 'warn', failed: 'bad', dead: 'bad', open: 'bad', firing: 'bad', disabled: 'bad',
  rejected: 'bad',
};

/** A status badge: colour and the word, so colour is never the only signal. */
export function badge(status) {
  const s = status === null || status === undefined ? 'unknown' : String(status);
  return h('span', { class: `badge badge-${TONES[s] || 'muted'}` }, s.replace('_', ' '));
}

/** Pretty JSON in a scrollable <pre>. */
export function json(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
  return h('pre', { class: 'code', tabindex: '0' }, text ?? 'null');
}

/**
 * A table that scrolls sideways, and on phones turns each row into a labelled card. `columns`: [{label, render(row) → node|text,
 * class?}]; `caption` names it for screen readers.
 */
export function table(caption, columns, rows, { empty = 'Nothing to show.', rowAttrs } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap stack', role: 'region', 'aria-label': caption, tabindex: '0' },
    h('table', {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {},
        columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.render(r))))))));
}

/** A definition list of [term, value, wide?] (wide spans the whole row). */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v, wide]) => h('div', { class: wide ? 'full' : null }, h('dt', {}, k), h('dd', {}, v))));
}

/** The code, message and request id of a failure, as a block for the page. */
export function errorBox(err, what) {
  const e = err instanceof ApiError ? err : new ApiError(0, 'client_error', String(err && err.message || err), null);
  const lines = [
    h('strong', {}, what ? `${what} failed: ` : 'Error: '),
    e.message,
    h('br'),
    h('span', { class: 'err-meta' }, 'code ', h('code', {}, e.code), e.status ? ` · HTTP ${e.status}` : '',
      ' · request id ', h('code', {}, e.requestId || 'none')),
  ];
  if (e.status === 403) lines.push(h('br'), h('span', {}, 'This API key’s scope does not allow this. Sign in with a key that has the needed scope.'));
  const details = e.details && (e.details.validation_errors || e.details.fields);
  if (details) lines.push(json(details));
  return h('div', { class: 'error-box', role: 'alert' }, lines);
}

const live = () => document.getElementById('status');

/** An announcement in the aria-live status region (and on screen). */
export function announce(message, tone = 'ok') {
  const el = live();
  if (!el) return;
  fill(el, h('div', { class: `notice notice-${tone}` }, message));
}

export function announceError(err, what) {
  const el = live();
  if (el) fill(el, errorBox(err, what));
}

export function clearStatus() {
  const el = live();
  if (el) el.replaceChildren();
}

/**
 * A button for a write action: absent for a key without `scope`. `run` is awaited with the
 * button disabled; its failure is announced with code, message and request id.
 */
export function action(label, run, { scope = 'write', what = label, cls = '', title } = {}) {
  if (!can(scope)) return null;
  const b = h('button', { type: 'button', class: `btn ${cls}`, title });
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
    try {
      await run(b);
    } catch (e) {
      announceError(e, what);
    } finally {
      b.disabled = false;
      b.removeAttribute('aria-busy');
    }
  });
  return b;
}

export function section(title, ...children) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), children);
}

export function loading(what = 'Loading…') {
  return h('p', { class: 'muted', role: 'status' }, what);
}

/** Repeats `fn` every `ms` until it returns true or `limit` tries pass; stops when `alive()` fails. */
export async function poll(fn, { ms = 1000, limit = 60, alive = () => true } = {}) {
  for (let i = 0; i < limit && alive(); i++) {
    await new Promise((r) => setTimeout(r, ms));
    if (!alive()) return false;
    if (await fn()) return true;
  }
  return false;
}
