// Small inline-SVG charts (no library): a line chart over time buckets and a horizontal bar
// chart. Each is a <figure> with a caption, an aria-label summary on the SVG, a legend with
// totals, and the numbers in a table under a <details> toggle, so nothing is only visual.
// The SVG is drawn at the figure's real width (redrawn on resize), so text stays legible from
// phone to desktop.

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
export const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed'];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// Colour through the CSSOM, not a style attribute, so a strict Content-Security-Policy holds.
function swatch(color) {
  const el = h('span', { class: 'swatch', 'aria-hidden': 'true' });
  el.style.background = color;
  return el;
}

const hhmm = (d) => d.toISOString().slice(11, 16);

function observeWidth(fig, holder, draw) {
  let last = 0;
  const redraw = () => {
    const w = Math.max(240, Math.floor(holder.clientWidth || 0));
    if (w === last) return;
    last = w;
    holder.replaceChildren(draw(w));
  };
  if (typeof ResizeObserver === 'function') new ResizeObserver(redraw).observe(holder);
  requestAnimationFrame(redraw);
}

/**
 * times: Date[] (bucket starts); series: [{name, values: number[]}]; format(v) for values;
 * unit: what a value counts (for the summary), e.g. 'per minute'.
 */
export function lineChart({ title, times, series, format = (v) => String(v), unit = '', max: fixedMax, empty }) {
  const all = series.flatMap((x) => x.values).filter((v) => v !== null && Number.isFinite(v));
  const max = fixedMax ?? niceMax(Math.max(0, ...all));
  const summary = series.map((x) => {
    const vals = x.values.filter((v) => v !== null && Number.isFinite(v));
    if (!vals.length) return `${x.name}: no data`;
    const peak = Math.max(...vals);
    const at = times[x.values.indexOf(peak)];
    const last = vals[vals.length - 1];
    return `${x.name}: latest ${format(last)}, peak ${format(peak)}${at ? ` at ${hhmm(at)} UTC` : ''}`;
  }).join('; ');
  const label = `${title}${unit ? ` (${unit})` : ''}, ${times.length ? `${hhmm(times[0])} to ${hhmm(times[times.length - 1])} UTC` : 'no buckets'}. ${summary}.`;
  const holder = h('div', { class: 'chart-svg' });
  const fig = h('figure', { class: 'chart' },
    h('figcaption', {}, h('h3', {}, title), unit ? h('span', { class: 'muted' }, ` ${unit}`) : null),
    holder,
    h('ul', { class: 'legend' }, series.map((x, i) => h('li', {},
      swatch(x.color || COLORS[i]),
      x.name, x.total !== undefined ? h('span', { class: 'muted' }, ` · ${x.total}`) : null))),
    h('details', { class: 'chart-data' },
      h('summary', {}, `Data table: ${title}`),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Bucket (UTC)'), series.map((x) => h('th', { scope: 'col' }, x.name)))),
        h('tbody', {}, times.map((t, i) => h('tr', {}, h('th', { scope: 'row' }, hhmm(t)),
          series.map((x) => h('td', {}, x.values[i] === null ? '—' : format(x.values[i]))))))))));
  if (empty && !all.some((v) => v > 0)) fig.append(h('p', { class: 'muted chart-empty' }, empty));

  observeWidth(fig, holder, (w) => {
    const H = 190;
    const pad = { l: 44, r: 12, t: 12, b: 26 };
    const iw = w - pad.l - pad.r;
    const ih = H - pad.t - pad.b;
    const svg = s('svg', { width: w, height: H, viewBox: `0 0 ${w} ${H}`, role: 'img', 'aria-label': label, class: 'chart-plot' });
    const n = Math.max(1, times.length - 1);
    const x = (i) => pad.l + (iw * i) / n;
    const y = (v) => pad.t + ih - (ih * Math.min(v, max)) / max;
    for (const f of [0, 0.5, 1]) {
      const v = max * f;
      svg.append(s('line', { x1: pad.l, x2: w - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
      svg.append(s('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)));
    }
    const ticks = Math.max(2, Math.min(5, Math.floor(iw / 80)));
    for (let k = 0; k < ticks && times.length; k++) {
      const i = Math.round(((times.length - 1) * k) / (ticks - 1));
      svg.append(s('text', { x: x(i), y: H - 8, 'text-anchor': k === 0 ? 'start' : k === ticks - 1 ? 'end' : 'middle', class: 'tick' }, hhmm(times[i])));
    }
    svg.append(s('line', { x1: pad.l, x2: w - pad.r, y1: y(0), y2: y(0), class: 'axis' }));
    series.forEach((ser, si) => {
      let d = '';
      let pen = false;
      ser.values.forEach((v, i) => {
        if (v === null || !Number.isFinite(v)) { pen = false; return; }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      if (d) svg.append(s('path', { d, fill: 'none', stroke: ser.color || COLORS[si], 'stroke-width': 2, 'stroke-linejoin': 'round', class: 'series' }));
    });
    return svg;
  });
  return fig;
}

/** bars: [{label, value, note?}] drawn as horizontal bars. */
export function barChart({ title, bars, format = (v) => String(v), unit = '' }) {
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value || 0)));
  const label = `${title}${unit ? ` (${unit})` : ''}: ${bars.map((b) => `${b.label} ${format(b.value)}${b.note ? ` (${b.note})` : ''}`).join(', ')}.`;
  const holder = h('div', { class: 'chart-svg' });
  const fig = h('figure', { class: 'chart' },
    h('figcaption', {}, h('h3', {}, title), unit ? h('span', { class: 'muted' }, ` ${unit}`) : null),
    holder,
    h('details', { class: 'chart-data' }, h('summary', {}, `Data table: ${title}`),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Queue'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Note'))),
        h('tbody', {}, bars.map((b) => h('tr', {}, h('th', { scope: 'row' }, b.label), h('td', {}, format(b.value)), h('td', {}, b.note || '—'))))))));
  observeWidth(fig, holder, (w) => {
    const row = 34;
    const labelW = Math.min(130, Math.floor(w * 0.32));
    const H = bars.length * row + 22;
    const svg = s('svg', { width: w, height: H, viewBox: `0 0 ${w} ${H}`, role: 'img', 'aria-label': label, class: 'chart-plot' });
    const iw = w - labelW - 70;
    bars.forEach((b, i) => {
      const y0 = i * row + 6;
      svg.append(s('text', { x: labelW - 8, y: y0 + 15, 'text-anchor': 'end', class: 'tick' }, b.label));
      const bw = Math.max(b.value > 0 ? 2 : 0, (iw * (b.value || 0)) / max);
      svg.append(s('rect', { x: labelW, y: y0, width: bw, height: 20, rx: 3, fill: COLORS[i % COLORS.length] }));
      svg.append(s('text', { x: labelW + bw + 6, y: y0 + 15, class: 'tick value' }, format(b.value)));
    });
    svg.append(s('line', { x1: labelW, x2: labelW, y1: 0, y2: H - 16, class: 'axis' }));
    svg.append(s('text', { x: labelW, y: H - 3, class: 'tick' }, '0'));
    svg.append(s('text', { x: labelW + iw, y: H - 3, 'text-anchor': 'end', class: 'tick' }, format(max)));
    return svg;
  });
  return fig;
}
