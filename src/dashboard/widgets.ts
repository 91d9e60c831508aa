/** Pieces used on more than one page: reset a group's offset, the per-minute stats chart. */
import { get, post, qs, seg } from './api';
import { COLORS, timeChart } from './charts';
import { alert, field, fromLocalInput, h, link, num, select, table, toLocalInput, run } from './dom';
import type { Ctx } from './main';
import type { ResetResult, ResetTo, Stats } from './types';

/** Topic or group names for a <datalist>, loaded once per page. */
export function datalist(id: string, names: string[]): HTMLDataListElement {
  return h('datalist', { id }, names.map((n) => h('option', { value: n })));
}

export interface ResetOpts {
  /** fixed topic (topic page) or a choice (group page) */
  topic?: string; topics?: string[];
  group?: string; groups?: string[];
  onDone?: (r: ResetResult) => void;
}

/** A form to move a group's position on a topic: earliest, latest (skip the backlog), a time, or an offset. */
export function resetOffsetForm(o: ResetOpts): HTMLFormElement {
  const groupIn = h('input', { name: 'group', required: true, list: 'reset-groups', placeholder: 'consumer group', value: o.group ?? '', pattern: '[A-Za-z0-9_\\-]{1,120}' });
  const topicIn = h('input', { name: 'topic', required: true, list: 'reset-topics', placeholder: 'topic', value: o.topic ?? o.topics?.[0] ?? '' });
  const to = select('to', [
    ['EARLIEST', 'Earliest: the oldest retained message (consume everything again)'],
    ['LATEST', 'Latest: skip the backlog'],
    ['TIME', 'A point in time: the first message stored at or after it'],
    ['OFFSET', 'A queue offset'],
  ], 'TIME', { 'aria-label': 'Move the group to' });
  const at = h('input', { type: 'datetime-local', name: 'timestamp', step: 1, value: toLocalInput(Date.now() - 3_600_000) });
  const queueId = h('input', { type: 'number', name: 'queueId', min: 0, max: 63, value: 0 });
  const offset = h('input', { type: 'number', name: 'offset', min: 0, value: 0 });
  const timeRow = field('Time (local)', at);
  const offRow = h('div', { class: 'row' }, field('Queue', queueId), field('Offset', offset));
  const sync = () => { timeRow.hidden = to.value !== 'TIME'; offRow.hidden = to.value !== 'OFFSET'; };
  to.addEventListener('change', sync);
  sync();
  const out = h('div', { class: 'out' });
  const btn = h('button', { type: 'submit' }, 'Reset offset');
  const form = h('form', { class: 'form', 'data-testid': 'reset-offset' },
    o.groups ? datalist('reset-groups', o.groups) : null,
    o.topics ? datalist('reset-topics', o.topics) : null,
    h('div', { class: 'row' },
      o.group ? null : field('Group', groupIn),
      o.topic ? null : field('Topic', topicIn),
      field('Move to', to)),
    timeRow, offRow, h('div', { class: 'actions' }, btn), out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(btn, out, async () => {
      let target: ResetTo;
      if (to.value === 'TIME') {
        const t = fromLocalInput(at.value);
        if (t === null) throw new Error('Pick a date and time.');
        target = { timestamp: t };
      } else if (to.value === 'OFFSET') target = { queueId: Number(queueId.value), offset: Number(offset.value) };
      else target = to.value as 'EARLIEST' | 'LATEST';
      const g = o.group ?? groupIn.value.trim();
      const r = await post<ResetResult>(`/v1/groups/${seg(g)}/reset-offset`, { topic: o.topic ?? topicIn.value.trim(), to: target });
      o.onDone?.(r);
      return resetResult(r);
    });
  });
  return form;
}

export function resetResult(r: ResetResult): HTMLElement {
  return alert('ok', h('div', null, 'Group ', link(`#/groups/${seg(r.group)}`, r.group), ` now continues on ${r.topic} from:`),
    table([{ label: 'Queue', cell: (x: { queueId: number; offset: number }) => x.queueId, class: 'num' }, { label: 'Next offset', cell: (x) => num(x.offset), class: 'num' }],
      r.offsets, { class: 'compact', 'data-testid': 'reset-result' }));
}

/** Per-minute produced / consumed (and lag, for a group) over the last hour, refreshed every 30 s. */
export function statsChart(ctx: Ctx, box: HTMLElement, scope: { topic?: string; group?: string }): void {
  const series = [
    { label: 'produced', color: COLORS.produced, bars: true },
    ...(scope.group ? [{ label: 'consumed', color: COLORS.consumed }, { label: 'lag', color: COLORS.lag, scale: 'lag' as const }] : []),
  ];
  const c = timeChart(box, series, { emptyText: 'No messages in the last hour' });
  ctx.onCleanup(() => c.destroy());
  ctx.every(30_000, async () => {
    const s = await get<Stats>(`/v1/stats${qs({ ...scope, minutes: 60 })}`);
    if (!ctx.alive()) return;
    const ys: (number | null)[][] = [s.series.map((p) => p.produced)];
    if (scope.group) ys.push(s.series.map((p) => p.consumed), s.series.map((p) => p.lag));
    c.setData(s.series.map((p) => p.minute), ys);
  });
}
