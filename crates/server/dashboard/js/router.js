// Hash routing (`#/events/evt_…?status=failed`): deep links work and the server serves fixed
// files only. Each page render gets a context whose `alive()` turns false once the user leaves,
// so polls and timers of a page stop with it.

const routes = [];
let current = null;

/** `pattern`: a path like '/events/:id'. `render(ctx)` with ctx.params, ctx.query, ctx.main. */
export function route(pattern, render, title) {
  const names = [];
  const re = new RegExp(`^${pattern.replace(/:([a-z]+)/g, (_, n) => { names.push(n); return '([^/]+)'; })}$`);
  routes.push({ re, names, render, title });
}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = raw.split('?');
  return { path: path || '/', query: Object.fromEntries(new URLSearchParams(qs)) };
}

/** `#/path?query` from parts, leaving out empty values. */
export function link(path, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export function go(path, query) {
  const target = link(path, query);
  if (location.hash === target) dispatch();
  else location.hash = target;
}

export function reload() {
  dispatch();
}

let hooks = { before: () => true, after: () => {} };
export function setHooks(h) {
  hooks = { ...hooks, ...h };
}

export async function dispatch() {
  if (current) {
    current.alive = false;
    current.cleanup.forEach((f) => { try { f(); } catch { /* leaving anyway */ } });
  }
  const { path, query } = parseHash();
  const main = document.getElementById('main');
  if (!hooks.before(path)) return;
  const match = routes.map((r) => ({ r, m: r.re.exec(path) })).find((x) => x.m);
  const state = { alive: true, cleanup: [] };
  current = state;
  const ctx = {
    main,
    query,
    params: {},
    alive: () => state.alive,
    onLeave: (f) => state.cleanup.push(f),
    every: (ms, f) => { const t = setInterval(() => state.alive && f(), ms); state.cleanup.push(() => clearInterval(t)); },
  };
  main.replaceChildren();
  if (!match) {
    const p = document.createElement('p');
    p.textContent = `No page at ${path}.`;
    main.append(p);
    hooks.after(path, 'Not found');
    return;
  }
  match.r.names.forEach((n, i) => { ctx.params[n] = decodeURIComponent(match.m[i + 1]); });
  hooks.after(path, typeof match.r.title === 'function' ? match.r.title(ctx) : match.r.title);
  await match.r.render(ctx);
}

export function start() {
  window.addEventListener('hashchange', dispatch);
  dispatch();
}
