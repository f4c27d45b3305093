// Test harness: starts the real `switchyard serve` (fresh SQLite data dir, a port the OS picks,
// a bootstrap admin key, loopback destinations allowed), local HTTP receivers whose answer can
// be switched, an API client for seeding, and Debian's Chromium through playwright-core.
//
// SWITCHYARD_BIN   the binary (default ../../target/debug/switchyard from this directory)
// DASHBOARD_PROXY=1  development only: serve ../../crates/server/dashboard from a local proxy
//                  that forwards /v1, /metrics, /healthz, /readyz to the binary (for a binary
//                  built before the dashboard routes existed)
// CHROMIUM         the browser (default /usr/bin/chromium)
// BROWSER_TEST_POSTGRES  e.g. postgres://postgres@127.0.0.1:5432: each server gets a fresh
//                  PostgreSQL database there (created with psql, dropped after) instead of SQLite

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = resolve(here, process.env.SWITCHYARD_BIN || '../../target/debug/switchyard');
export const DASHBOARD_DIR = resolve(here, '../../crates/server/dashboard');
export const ADMIN_KEY = 'sy_browser_test_admin_key_0123456789';

/** Starts the binary; resolves once it logs its listen address. */
export async function startServer() {
  if (!existsSync(BIN)) throw new Error(`no switchyard binary at ${BIN}; build it (cargo build) or set SWITCHYARD_BIN`);
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-browser-'));
  const pg = process.env.BROWSER_TEST_POSTGRES;
  let database = `sqlite://${join(dir, 'switchyard.db')}`;
  let pgName = null;
  const extraEnv = {};
  if (pg) {
    pgName = `browser_${randomBytes(6).toString('hex')}`;
    execFileSync('psql', [`${pg}/postgres`, '-qAtc', `CREATE DATABASE ${pgName}`]);
    database = `${pg}/${pgName}`;
    // PostgreSQL keeps no key file: the master key comes from the environment.
    extraEnv.SWITCHYARD_MASTER_KEY = randomBytes(32).toString('base64');
  }
  const child = spawn(BIN, [
    'serve',
    '--listen', '127.0.0.1:0',
    '--database', database,
    '--allow-destinations', '127.0.0.0/8',
    '--shutdown-grace', '2',
  ], {
    env: { ...process.env, ...extraEnv, SWITCHYARD_BOOTSTRAP_KEY: ADMIN_KEY, SWITCHYARD_LOG_FORMAT: 'json', RUST_LOG: process.env.RUST_LOG || 'info,sqlx=warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const address = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`switchyard did not start within 30 s:\n${log}`)), 30000);
    const onData = (chunk) => {
      log += chunk;
      for (const line of log.split('\n')) {
        if (!line.includes('switchyard listening')) continue;
        try {
          const listen = JSON.parse(line).listen;
          clearTimeout(timer);
          ok(listen);
          return;
        } catch { /* partial line */ }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => { log += c; });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`switchyard exited (${code}) before listening:\n${log}`)); });
  });
  child.stdout.removeAllListeners('data');
  child.stdout.resume();
  const apiBase = `http://${address}`;
  let base = apiBase;
  let proxy = null;
  if (process.env.DASHBOARD_PROXY === '1') {
    proxy = await startProxy(apiBase);
    base = proxy.url;
  }
  return {
    base,
    apiBase,
    dir,
    async stop() {
      if (proxy) await proxy.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
      if (pgName) execFileSync('psql', [`${pg}/postgres`, '-qAtc', `DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`]);
    },
  };
}

// The policy the binary is expected to send with the dashboard; the proxy sends it too, so the
// tests catch anything it would block (a blocked load is a console error, which fails a test).
export const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/** Development stand-in for the binary's dashboard routes: the files plus a forwarding proxy. */
export function startProxy(upstream, port = 0) {
  const up = new URL(upstream);
  const server = createServer((req, res) => {
    const path = req.url.split('?')[0];
    if (/^\/(v1|metrics|healthz|readyz|in)(\/|$)/.test(path)) {
      const p = httpRequest({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      p.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(p);
      return;
    }
    const file = path === '/' ? 'index.html' : normalize(path).replace(/^\/+/, '');
    const full = join(DASHBOARD_DIR, file);
    if (!full.startsWith(DASHBOARD_DIR) || !existsSync(full) || !TYPES[extname(full)]) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(full)], 'cache-control': 'no-store', 'content-security-policy': DASHBOARD_CSP, 'x-content-type-options': 'nosniff' });
    res.end(readFileSync(full));
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  })));
}

/** A receiver answering `status` (changeable) and counting the requests it got. */
export function startReceiver(status = 200) {
  const state = { status, hits: 0 };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.hits += 1;
      res.writeHead(state.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: state.status < 300, status: state.status, id: `r_${state.hits}` }));
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    setStatus: (s) => { state.status = s; },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  })));
}

/** A small API client for seeding and checking; throws on non-2xx with the envelope. */
export function api(base, key = ADMIN_KEY) {
  const call = async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return data;
  };
  return {
    get: (p) => call('GET', p),
    post: (p, b = {}) => call('POST', p, b),
    patch: (p, b) => call('PATCH', p, b),
    /** Repeats `fn` until it returns a truthy value (every 200 ms, up to `ms`). */
    async until(fn, ms = 20000) {
      const end = Date.now() + ms;
      for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

/** POSTs a webhook to /in/{source}. */
export async function sendWebhook(base, source, body) {
  const res = await fetch(`${base}/in/${source}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A page at `width`×800 that fails the test on page errors and records console errors. */
export async function newPage(browser, width = 1280, height = 800) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  // A 404 from a route the server lacks (e.g. /v1/stats before it exists) is logged by the
  // browser as a failed resource; the dashboard handles those, so only script errors count.
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.errors.push(m.text()); });
  page.setDefaultTimeout(20000);
  return page;
}

export async function signIn(page, base, key = ADMIN_KEY, hash = '') {
  await page.goto(`${base}/${hash}`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Saves a 1280×800 (or current size) screenshot into $SCREENSHOTS_DIR, if it is set. */
export async function screenshot(page, name) {
  const dir = process.env.SCREENSHOTS_DIR;
  if (!dir) return;
  await page.screenshot({ path: join(resolve(dir), `${name}.png`), fullPage: false });
}
