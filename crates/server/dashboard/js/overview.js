// Overview: the last hour from `GET /v1/stats?bucket_seconds=60` — intake, delivery and run
// rates, error ratios, queue depth and oldest age — refreshed every 30 s while shown.

import { get, ApiError } from './api.js';
import { h, fill, section, errorBox, loading, duration, time } from './dom.js';
import { lineChart, barChart, COLORS } from './charts.js';

const BUCKET = 60;

const sum = (xs) => xs.reduce((a, b) => a + (b || 0), 0);
const ratio = (bad, good) => (bad + good > 0 ? bad / (bad + good) : null);
const pct = (v) => (v === null ? '—' : `${Math.round(v * 1000) / 10}%`);

/** Queue depth and age from /metrics, for servers without /v1/stats. */
async function queuesFromMetrics() {
  const res = await fetch('/metrics', { cache: 'no-store' });
  if (!res.ok) return [];
  const text = await res.text();
  const byKind = {};
  for (const line of text.split('\n')) {
    const m = /^switchyard_queue_(jobs|oldest_age_seconds)\{[^}]*kind="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m) continue;
    const q = (byKind[m[2]] ||= { kind: m[2], depth: 0, oldest_age_seconds: null });
    if (m[1] === 'jobs') q.depth = Number(m[3]);
    else q.oldest_age_seconds = Number(m[3]);
  }
  return Object.values(byKind);
}

function kpi(label, value, note) {
  return h('div', { class: 'kpi' }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value), note ? h('div', { class: 'kpi-note muted' }, note) : null);
}

function queueCharts(queues) {
  if (!queues.length) return h('p', { class: 'empty' }, 'No queue figures reported.');
  const names = { delivery: 'Deliveries', flow_run: 'Flow runs', run: 'Flow runs', notification: 'Notifications' };
  return h('div', { class: 'charts' },
    barChart({
      title: 'Queue depth',
      unit: 'jobs waiting now',
      bars: queues.map((q) => ({ label: names[q.kind] || q.kind, value: q.depth })),
    }),
    barChart({
      title: 'Oldest queued job',
      unit: 'age now',
      format: (v) => duration(v),
      bars: queues.map((q) => ({ label: names[q.kind] || q.kind, value: q.oldest_age_seconds || 0, note: q.oldest_age_seconds === null ? 'empty' : undefined })),
    }));
}

function render(body, stats) {
  const b = stats.buckets || [];
  const times = b.map((x) => new Date(x.at));
  const per = stats.bucket_seconds === 60 ? 'per minute' : `per ${stats.bucket_seconds} s`;
  const col = (k) => b.map((x) => x[k] || 0);
  const received = col('received');
  const rejected = col('rejected');
  const dOk = col('deliveries_succeeded');
  const dBad = col('deliveries_failed');
  const rOk = col('runs_succeeded');
  const rBad = col('runs_failed');
  const queues = stats.queues || [];
  const totalQueued = sum(queues.map((q) => q.depth));
  const oldest = Math.max(0, ...queues.map((q) => q.oldest_age_seconds || 0));
  fill(body,
    h('div', { class: 'kpis' },
      kpi('Events received', sum(received), `${sum(rejected)} rejected`),
      kpi('Deliveries', sum(dOk) + sum(dBad), `${sum(dBad)} failed (${pct(ratio(sum(dBad), sum(dOk)))})`),
      kpi('Flow runs', sum(rOk) + sum(rBad), `${sum(rBad)} failed (${pct(ratio(sum(rBad), sum(rOk)))})`),
      kpi('Queued now', totalQueued, `oldest ${duration(oldest)}`)),
    h('p', { class: 'muted' }, 'Last hour since ', time(stats.since), `, in ${stats.bucket_seconds}-second buckets, oldest first. Refreshed every 30 s.`),
    h('div', { class: 'charts' },
      lineChart({ title: 'Intake', unit: `events ${per}`, times, series: [
        { name: 'Received', values: received, total: sum(received) },
        { name: 'Rejected', values: rejected, total: sum(rejected) }] }),
      lineChart({ title: 'Deliveries', unit: `attempts ended ${per}`, times, series: [
        { name: 'Succeeded', values: dOk, total: sum(dOk), color: COLORS[2] },
        { name: 'Failed', values: dBad, total: sum(dBad), color: COLORS[1] }] }),
      lineChart({ title: 'Flow runs', unit: `runs ended ${per}`, times, series: [
        { name: 'Succeeded', values: rOk, total: sum(rOk), color: COLORS[2] },
        { name: 'Failed', values: rBad, total: sum(rBad), color: COLORS[1] }] }),
      lineChart({ title: 'Error ratio', unit: 'share failed per bucket', times, max: 1, format: pct,
        empty: 'No failures in the last hour.',
        series: [
          { name: 'Intake rejected', values: b.map((x) => ratio(x.rejected || 0, x.received || 0)), color: COLORS[3] },
          { name: 'Deliveries failed', values: b.map((x) => ratio(x.deliveries_failed || 0, x.deliveries_succeeded || 0)), color: COLORS[1] },
          { name: 'Runs failed', values: b.map((x) => ratio(x.runs_failed || 0, x.runs_succeeded || 0)), color: COLORS[4] }] })),
    section('Queues', queueCharts(queues)));
}

export async function overview(ctx) {
  const body = h('div', { id: 'overview-body' }, loading('Loading the last hour…'));
  fill(ctx.main, h('h1', {}, 'Overview'), body);
  const load = async () => {
    try {
      const stats = await get(`/v1/stats?bucket_seconds=${BUCKET}`);
      if (ctx.alive()) render(body, stats);
    } catch (e) {
      if (!ctx.alive()) return;
      if (e instanceof ApiError && e.status === 404) {
        const queues = await queuesFromMetrics().catch(() => []);
        fill(body,
          h('div', { class: 'notice notice-warn' }, 'This server does not offer GET /v1/stats yet, so the hourly charts are not available. Queue figures below come from /metrics.'),
          section('Queues', queueCharts(queues)));
      } else {
        fill(body, errorBox(e, 'Loading statistics'));
      }
    }
  };
  await load();
  ctx.every(30000, load);
}
