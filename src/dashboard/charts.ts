/** Time-series charts on uPlot (bundled; about 50 KB): sized to their container, destroyed on navigation. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';

export interface SeriesDef { label: string; color: string; scale?: 'y' | 'lag'; bars?: boolean }
export interface TimeChart { setData(xsMs: number[], ys: (number | null)[][]): void; destroy(): void }

const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(v % 1000 ? 1 : 0)}k` : Number.isInteger(v) ? String(v) : v.toFixed(1));

/**
 * A chart of time (ms) against one or two y scales. `emptyText` is shown over the chart while every
 * value is zero or missing, so a flat line never reads as "broken".
 */
export function timeChart(container: HTMLElement, series: SeriesDef[], opts: { height?: number; emptyText?: string; windowMs?: number } = {}): TimeChart {
  const height = opts.height ?? 220;
  const host = h('div', { class: 'chart-host' });
  const overlay = h('div', { class: 'chart-empty', hidden: true }, opts.emptyText ?? 'No data yet');
  container.replaceChildren(h('div', { class: 'chart' }, host, overlay));
  const hasLag = series.some((s) => s.scale === 'lag');
  const bars = series.some((s) => s.bars);
  const u = new uPlot({
    width: Math.max(container.clientWidth, 300),
    height,
    cursor: { drag: { x: false, y: false } },
    scales: {
      // a live chart shows a fixed window ending now, however few samples it has
      // (the window grows from a minute to windowMs as samples come); bars get half a slot of room at each end
      x: {
        time: true,
        range: (_u, min, max) => {
          if (opts.windowMs) {
            const now = Date.now() / 1000;
            return [Math.max(now - opts.windowMs / 1000, Math.min(min ?? now, now - 60)), now];
          }
          return bars ? [min - 30, max + 30] : [min, max];
        },
      },
      y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] }, lag: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { stroke: '#475569', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' } },
      { stroke: '#475569', grid: { stroke: '#e2e8f0' }, ticks: { stroke: '#cbd5e1' }, values: (_u, vals) => vals.map(fmt), size: 50 },
      ...(hasLag ? [{ scale: 'lag', side: 1, stroke: '#b45309', grid: { show: false }, values: (_u: uPlot, vals: number[]) => vals.map(fmt), size: 50 } as uPlot.Axis] : []),
    ],
    series: [
      { label: 'time', value: (_u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
      ...series.map((s): uPlot.Series => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        scale: s.scale ?? 'y',
        fill: s.bars ? `${s.color}55` : `${s.color}14`,
        spanGaps: s.scale === 'lag',
        ...(s.bars ? { points: { show: false } } : {}),
        value: (_u, v) => (v == null ? '—' : fmt(v)),
        ...(s.bars ? { paths: uPlot.paths.bars!({ size: [0.6, 40] }) } : {}),
      })),
    ],
  }, [[], ...series.map(() => [])], host);

  const ro = new ResizeObserver(() => {
    const w = Math.max(container.clientWidth, 300);
    if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
  });
  ro.observe(container);

  return {
    setData(xsMs, ys) {
      u.setData([xsMs.map((x) => x / 1000), ...ys] as uPlot.AlignedData);
      overlay.hidden = ys.some((s) => s.some((v) => v !== null && v !== 0));
    },
    destroy() { ro.disconnect(); u.destroy(); },
  };
}

export const COLORS = { produced: '#2563eb', consumed: '#16a34a', lag: '#d97706' };
