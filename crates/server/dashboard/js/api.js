// The API client: the key lives in sessionStorage only (gone when the tab closes), every call
// sends `Authorization: Bearer <key>`, and every failure becomes an ApiError carrying the
// envelope's code, message and request id (SPEC §4).

const KEY = 'switchyard.key';
const SCOPE = 'switchyard.scope';
const RANK = { read: 1, write: 2, admin: 3 };

export class ApiError extends Error {
  constructor(status, code, message, requestId, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details ?? null;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function scope() {
  return sessionStorage.getItem(SCOPE) || 'read';
}

/** Whether the signed-in key has at least `needed` ('read' | 'write' | 'admin'). */
export function can(needed) {
  return (RANK[scope()] || 0) >= RANK[needed];
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(SCOPE);
}

let onUnauthorized = () => {};
/** Called when the server answers 401 to a signed-in call (key revoked meanwhile). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function call(method, path, body, key = apiKey()) {
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network_error', `The server could not be reached (${e.message}).`, null);
  }
  const requestId = res.headers.get('x-request-id');
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const env = data && data.error;
    const err = env
      ? new ApiError(res.status, env.code, env.message, env.request_id || requestId, env.details)
      : new ApiError(res.status, res.status === 404 ? 'not_found' : `http_${res.status}`,
        res.status === 404 ? `${method} ${path.split('?')[0]} does not exist on this server.` : (text.slice(0, 200) || res.statusText),
        requestId);
    if (res.status === 401 && key && key === apiKey()) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body = {}) => call('POST', path, body);
export const patch = (path, body) => call('PATCH', path, body);

/** `/v1/...?a=b` from an object, leaving out empty values. */
export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * Signs in: checks the key with a read call, then finds its scope. `GET /v1/whoami` answers it
 * directly where the server has it; otherwise two calls without side effects tell: a bulk
 * release with an empty body is refused 403 below write scope and 422 (invalid body) from
 * write up, and only admin keys may list keys.
 */
export async function signIn(key) {
  await call('GET', '/v1/events?limit=1', undefined, key);
  let found = null;
  try {
    const me = await call('GET', '/v1/whoami', undefined, key);
    if (me && RANK[me.scope]) found = me.scope;
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  if (!found) {
    found = 'read';
    try {
      await call('POST', '/v1/events/release', {}, key);
      found = 'write';
    } catch (e) {
      if (e.status !== 403) found = 'write';
    }
    if (found === 'write') {
      try {
        await call('GET', '/v1/keys?limit=1', undefined, key);
        found = 'admin';
      } catch {
        /* write it is */
      }
    }
  }
  sessionStorage.setItem(KEY, key);
  sessionStorage.setItem(SCOPE, found);
  return found;
}
