// Seeds a server with what the dashboard pages show: sources (one with a JSON Schema), events
// (one quarantined), endpoints (one healthy, one failing), a destination and flows (one whose
// call fails until its receiver recovers).

import { api, sendWebhook } from './harness.js';

/** `rx`: {ok, failing, flaky} receivers from startReceiver. */
export async function seed(base, rx) {
  const a = api(base);
  await a.post('/v1/sources', { name: 'shop' });
  await a.post('/v1/sources', {
    name: 'forms',
    schema: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
  });
  const billing = await a.post('/v1/endpoints', { name: 'billing', url: `${rx.ok.url}/hooks`, event_types: ['order.*'] });
  const legacy = await a.post('/v1/endpoints', {
    name: 'legacy-crm', url: `${rx.failing.url}/hooks`, event_types: ['order.*'], retry_schedule_seconds: [0, 1],
  });
  await a.post('/v1/destinations', { name: 'crm', base_url: rx.flaky.url, auth: { kind: 'bearer', token: 'crm-token-123' } });
  await a.post('/v1/flows', {
    name: 'lead-to-crm',
    trigger: { manual: true },
    steps: [
      { id: 'shape', map: '{email: .payload.email}' },
      { id: 'contact', http: { destination: 'crm', method: 'POST', path: '/contacts', body: '.steps.shape.output' }, retry: { schedule_seconds: [0, 1] } },
    ],
  });
  await a.post('/v1/flows', {
    name: 'order-audit',
    trigger: { source: 'shop', types: ['order.*'] },
    steps: [{ id: 'keep', map: '{id: .payload.id, total: .payload.total}' }],
  });
  const order = await a.post('/v1/events', { type: 'order.created', payload: { id: 'o_1001', total: 4200, currency: 'EUR' } });
  for (let i = 0; i < 3; i++) await sendWebhook(base, 'shop', { type: 'order.paid', id: `o_${2000 + i}`, total: 1000 + i });
  const quarantined = await sendWebhook(base, 'forms', { type: 'form.submitted', name: 'Ada', phone: '+44 20 7946 0000' });
  const run = await a.post('/v1/flows/lead-to-crm/runs', { payload: { email: 'ada@example.com' } });
  return { a, billing, legacy, order, quarantined: quarantined.body, run };
}
