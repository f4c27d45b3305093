// The dashboard in a real browser against the real binary. One server, seeded through the API
// (seed.js), shared by the tests of this file, which run in order. Every wait is on a UI or API
// condition, never a fixed sleep.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  startServer, startReceiver, launchBrowser, newPage, signIn, screenshot, sendWebhook, ADMIN_KEY, DASHBOARD_DIR,
} from './harness.js';
import { seed } from './seed.js';

let srv;
let rx;
let browser;
let s;
let a;

before(async () => {
  srv = await startServer();
  rx = { ok: await startReceiver(200), failing: await startReceiver(500), flaky: await startReceiver(500) };
  s = await seed(srv.apiBase, rx);
  a = s.a;
  // The dashboard must come from the server itself (or the development proxy).
  const index = await fetch(`${srv.base}/`);
  assert.equal(index.status, 200, `GET / answered ${index.status}: this binary does not serve the dashboard (set DASHBOARD_PROXY=1 to develop against an older one)`);
  // Every module in the directory is compiled in (a missing one breaks the whole page), and
  // the binary is not older than the files.
  for (const name of readdirSync(join(DASHBOARD_DIR, 'js')).filter((n) => n.endsWith('.js'))) {
    const res = await fetch(`${srv.base}/js/${name}`);
    assert.equal(res.status, 200, `GET /js/${name} answered ${res.status}: the binary does not serve it (is it listed in routes/dashboard.rs, and the binary rebuilt?)`);
    assert.ok((await res.text()) === readFileSync(join(DASHBOARD_DIR, 'js', name), 'utf8'), `GET /js/${name} differs from the file: rebuild the binary`);
  }
  browser = await launchBrowser();
  // Settled seed state: the failing endpoint's delivery is dead, the flow's run is dead.
  await a.until(async () => {
    const ds = (await a.get(`/v1/deliveries?event=${s.order.id}`)).data;
    return ds.length === 2 && ds.every((d) => d.status !== 'pending');
  });
  await a.until(async () => (await a.get(`/v1/runs/${s.run.id}`)).status === 'dead');
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  for (const r of Object.values(rx || {})) await r.close();
});

test('sign in, find an event by id, open its timeline, replay it and see the new attempt', async () => {
  const page = await newPage(browser);
  await signIn(page, srv.base);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
  await page.getByRole('heading', { name: 'Events', exact: true }).waitFor();
  await page.locator(`a:text-is("${s.order.id}")`).waitFor();
  await screenshot(page, 'events');

  await page.getByLabel('Event id or dedup key').fill(s.order.id);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByRole('heading', { name: `Event ${s.order.id}` }).waitFor();
  assert.match(page.url(), new RegExp(`#/events/${s.order.id}$`));
  const deliveries = page.locator('[data-delivery]');
  await deliveries.nth(1).waitFor();
  assert.equal(await deliveries.count(), 2);
  await page.getByText('order.created').first().waitFor();
  await page.locator('pre.code', { hasText: 'o_1001' }).waitFor();
  const attempts = page.locator('[data-attempt]');
  const before = await attempts.count();
  assert.ok(before >= 3, `expected the seeded attempts, saw ${before}`);
  await screenshot(page, 'event-detail');

  await page.getByRole('button', { name: 'Replay' }).click();
  await page.getByRole('status').getByText(/Replay queued|new attempt/).first().waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('[data-attempt]').length > n, before);
  await page.getByRole('status').getByText('its new attempt is listed below').waitFor();
  assert.ok((await attempts.count()) > before);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('release a quarantined event, after an error shown with code, message and request id', async () => {
  const qid = s.quarantined.id;
  assert.equal(s.quarantined.status, 'quarantined');
  const page = await newPage(browser);
  await signIn(page, srv.base, undefined, '#/quarantine');
  await page.getByRole('heading', { name: 'Quarantine' }).waitFor();
  const row = page.locator(`tr[data-event="${qid}"]`);
  await row.getByText(/email/).first().waitFor();
  await screenshot(page, 'quarantine');

  // Still failing the schema: refused, and the envelope is shown whole.
  await row.getByRole('button', { name: 'Release' }).click();
  const alert = page.locator('#status [role="alert"]');
  await alert.getByText('still_invalid').waitFor();
  assert.match(await alert.textContent(), /request id req_/);

  // The schema is fixed; the release goes through.
  await a.patch('/v1/sources/forms', { schema: { type: 'object', required: ['name'] } });
  await row.getByRole('button', { name: 'Release' }).click();
  await row.getByText('released').waitFor();
  await page.getByRole('status').getByText(`Event ${qid} released`).waitFor();
  assert.equal((await a.get(`/v1/events/${qid}`)).status, 'received');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('re-enable a disabled endpoint, and rotate its secret', async () => {
  await a.post(`/v1/endpoints/${s.legacy.id}/disable`);
  const page = await newPage(browser);
  await signIn(page, srv.base, undefined, '#/endpoints');
  const card = page.locator(`[data-endpoint="${s.legacy.id}"]`);
  await card.getByText('disabled', { exact: true }).waitFor();
  await card.getByText('HTTP 500').waitFor();
  await screenshot(page, 'endpoints');

  await card.getByRole('button', { name: 'Enable' }).click();
  const fresh = page.locator(`[data-endpoint="${s.legacy.id}"]`);
  await fresh.getByText('enabled', { exact: true }).waitFor();
  await fresh.getByRole('button', { name: 'Disable' }).waitFor();
  assert.equal((await a.get(`/v1/endpoints/${s.legacy.id}`)).enabled, true);

  await fresh.getByRole('button', { name: 'Rotate secret…' }).click();
  await fresh.getByRole('button', { name: 'Rotate now' }).click();
  const secret = fresh.getByLabel('New signing secret');
  await secret.waitFor();
  assert.match(await secret.inputValue(), /^whsec_/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('retry a dead run once its API recovers', async () => {
  rx.flaky.setStatus(200);
  const page = await newPage(browser);
  await signIn(page, srv.base, undefined, '#/flows');
  await page.getByRole('link', { name: 'Runs of lead-to-crm' }).waitFor();
  await screenshot(page, 'flows');
  await page.getByRole('link', { name: 'Dead runs' }).click();
  await page.locator(`tr[data-run="${s.run.id}"]`).waitFor();
  await page.getByRole('link', { name: s.run.id }).click();
  await page.getByRole('heading', { name: `Run ${s.run.id}` }).waitFor();
  await page.locator('[data-step="contact"][data-status="failed"]').waitFor();

  await page.getByRole('button', { name: 'Retry' }).click();
  await page.locator('.title-row[data-status="succeeded"]').waitFor();
  await page.locator('[data-step="contact"][data-status="succeeded"]').waitFor();
  assert.equal((await a.get(`/v1/runs/${s.run.id}`)).status, 'succeeded');
  await screenshot(page, 'run');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an alert rule fires on a quarantined event, its notification is delivered, and it is disabled from the page', async () => {
  rx.alerts = await startReceiver(200);
  const rule = await a.post('/v1/alerts', {
    name: 'quarantine-waiting', rule: { kind: 'quarantined' }, channel: { kind: 'webhook', url: `${rx.alerts.url}/alerts` }, cooldown_seconds: 0,
  });
  // Fails the forms schema (whichever of the test's two it has now): quarantined.
  const q = await sendWebhook(srv.apiBase, 'forms', { type: 'form.submitted', phone: '+44 20 7946 0001' });
  assert.equal(q.body.status, 'quarantined');

  const page = await newPage(browser);
  await signIn(page, srv.base, undefined, '#/alerts');
  const card = page.locator(`[data-alert="${rule.id}"]`);
  await card.waitFor();
  // The server judges rules every few seconds; the page refreshes itself until it fires.
  await page.locator(`[data-alert="${rule.id}"][data-state="firing"]`).waitFor();
  const state = card.locator('[data-role="state"]');
  await state.getByText('Firing').waitFor();
  await state.locator('time').first().waitFor();
  await state.getByText(/1 event waits in quarantine for review/).waitFor();
  await state.getByRole('link', { name: 'quarantine' }).waitFor();
  await card.getByText('events wait in quarantine for review').waitFor();
  await card.getByText('0 s', { exact: true }).waitFor();
  // The channel URL is write-only: shown masked, never the receiver's address.
  await card.getByText('********').waitFor();
  assert.ok(!(await card.textContent()).includes(rx.alerts.url));

  await card.locator('summary', { hasText: 'Notifications' }).click();
  const sent = card.locator('[data-notification][data-state="firing"][data-status="succeeded"]');
  await sent.waitFor();
  await sent.locator('[data-notification-attempt]').getByText('HTTP 200').waitFor();
  assert.ok(rx.alerts.state.hits >= 1, 'the receiver got the notification');
  await card.getByText('Last notified').locator('..').locator('time').waitFor();

  await card.getByRole('button', { name: 'Disable' }).click();
  await page.locator(`[data-alert="${rule.id}"][data-enabled="false"]`).waitFor();
  await card.getByRole('button', { name: 'Enable' }).waitFor();
  await page.getByRole('status').getByText('Alert rule quarantine-waiting disabled').waitFor();
  assert.equal((await a.get(`/v1/alerts/${rule.id}`)).enabled, false);
  // The notifications stay open through the re-render.
  await sent.waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a read-scope key sees no write actions, and a 403 is explained', async () => {
  const { key } = await a.post('/v1/keys', { name: 'viewer', scope: 'read' });
  // A dead run and a quarantined event, so that Retry and Release would be offered.
  rx.flaky.setStatus(500);
  const run = await a.post('/v1/flows/lead-to-crm/runs', { payload: { email: 'grace@example.com' } });
  await a.until(async () => (await a.get(`/v1/runs/${run.id}`)).status === 'dead');
  await fetch(`${srv.apiBase}/in/forms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"form.submitted","phone":"1"}' });

  const page = await newPage(browser);
  await signIn(page, srv.base, key);
  await page.getByText('read-only key').waitFor();
  const writes = /^(Replay|Release|Enable|Disable|Rotate secret…|Retry)$/;
  const visits = [
    [`#/events/${s.order.id}`, page.locator('[data-delivery]').first()],
    ['#/endpoints', page.locator('[data-endpoint]').first()],
    ['#/quarantine', page.locator('tr[data-event]').first()],
    [`#/runs/${run.id}`, page.locator('[data-step="contact"]')],
    ['#/runs?status=dead', page.locator('tr[data-run]').first()],
    ['#/alerts', page.locator('[data-alert]').first()],
  ];
  for (const [hash, ready] of visits) {
    await page.goto(`${srv.base}/${hash}`);
    await ready.waitFor();
    assert.equal(await page.getByRole('button', { name: writes }).count(), 0, `write actions shown on ${hash}`);
  }

  // Were an action shown anyway, the server's 403 is spelled out.
  await page.evaluate(() => sessionStorage.setItem('switchyard.scope', 'write'));
  await page.goto(`${srv.base}/#/events/${s.order.id}`);
  await page.getByRole('button', { name: 'Replay' }).click();
  const alert = page.locator('#status [role="alert"]');
  await alert.getByText('insufficient_scope').waitFor();
  assert.match(await alert.textContent(), /HTTP 403/);
  assert.match(await alert.textContent(), /request id req_/);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchyard.key')), null);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('keyboard only: sign in, move through the navigation, open an event', async () => {
  const page = await newPage(browser);
  await page.goto(`${srv.base}/`);
  await page.getByLabel('API key').waitFor();
  // The key field has focus on arrival; Enter submits. A wrong key is refused with the envelope.
  await page.keyboard.type('not-a-key');
  await page.keyboard.press('Enter');
  await page.locator('#sign-in-problem [role="alert"]').getByText('invalid_api_key').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('switchyard.key')), null);
  await page.getByLabel('API key').fill('');
  await page.keyboard.type(ADMIN_KEY);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  let reached = null;
  for (let i = 0; i < 12 && reached !== 'Events'; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.textContent.trim());
  }
  assert.equal(reached, 'Events', 'the Events link is reachable with Tab');
  // The focused element shows a visible focus ring.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Events', exact: true }).waitFor();
  await page.getByLabel('Event id or dedup key').focus();
  await page.keyboard.type(s.order.id);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: `Event ${s.order.id}` }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('at 390 px wide no page overflows horizontally', async () => {
  const page = await newPage(browser, 390, 844);
  await signIn(page, srv.base);
  const pages = [
    ['#/', page.getByRole('heading', { name: 'Overview' })],
    ['#/events', page.locator('tr a.mono').first()],
    [`#/events/${s.order.id}`, page.locator('[data-attempt]').first()],
    ['#/quarantine', page.getByRole('heading', { name: 'Quarantine' })],
    ['#/endpoints', page.locator('[data-endpoint]').first()],
    ['#/flows', page.getByRole('link', { name: 'Runs of lead-to-crm' })],
    [`#/runs/${s.run.id}`, page.locator('[data-step="contact"]')],
    ['#/alerts', page.locator('#alert-list :is(.alert-cards, .notice, .empty, .error-box)').first()],
  ];
  for (const [hash, ready] of pages) {
    await page.goto(`${srv.base}/${hash}`);
    await ready.waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${hash} overflows by ${overflow} px at 390 px`);
    assert.ok(await page.getByRole('link', { name: 'Alerts' }).isVisible(), `navigation hidden on ${hash}`);
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('overview and alerts render (screenshots)', async () => {
  // Something to show: traffic with failures, and rules that fire and one that holds still.
  await a.post('/v1/alerts', {
    name: 'legacy-crm-failing',
    rule: { kind: 'failure_ratio', scope: { endpoint: 'legacy-crm' }, threshold: 0.5, window_seconds: 300, min_count: 1 },
    channel: { kind: 'slack', url: `${rx.ok.url}/slack` },
    cooldown_seconds: 600,
  });
  await a.post('/v1/alerts', {
    name: 'queue-stuck', rule: { kind: 'queue_age', seconds: 900 }, channel: { kind: 'webhook', url: `${rx.ok.url}/pager` },
  });
  for (let i = 0; i < 6; i++) await sendWebhook(srv.apiBase, 'shop', { type: 'order.paid', id: `o_${3000 + i}`, total: 500 * (i + 1) });
  await fetch(`${srv.apiBase}/in/shop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type": broken' });
  for (let i = 0; i < 2; i++) await a.post('/v1/flows/lead-to-crm/runs', { payload: { email: `lead${i}@example.com` } });
  const firing = await a.until(async () => (await a.get('/v1/alerts')).data.find((r) => r.name === 'legacy-crm-failing' && r.state === 'firing'), 30000);
  await a.until(async () => (await a.get(`/v1/alerts/${firing.id}/notifications`)).data.some((n) => n.status === 'succeeded'));

  const page = await newPage(browser);
  await signIn(page, srv.base, undefined, '#/alerts');
  const card = page.locator(`[data-alert="${firing.id}"][data-state="firing"]`);
  await card.waitFor();
  await card.locator('summary', { hasText: 'Notifications' }).click();
  await card.locator('[data-notification][data-status="succeeded"]').waitFor();
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, 'alerts');
  await page.goto(`${srv.base}/#/`);
  await page.locator('#overview-body :is(.kpis, .notice, .error-box)').first().waitFor();
  await page.locator('.chart svg').first().waitFor();
  await screenshot(page, 'overview');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('.chart svg').first().waitFor();
  await screenshot(page, 'overview-phone');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
