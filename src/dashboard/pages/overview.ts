/** Overview: cluster totals, live produce/consume rate, the last hour per minute, the most lagging groups. */
import { get } from '../api';
import { COLORS, timeChart } from '../charts';
import { add, bytes, card, empty, fill, h, link, num, panel, rate, table } from '../dom';
import type { Ctx } from '../main';
import type { Cluster, GroupSummary, Stats } from '../types';

const LIVE_MS = 3000;
const LIVE_POINTS = 200; // 10 minutes

export async function overviewPage(ctx: Ctx): Promise<void> {
  const cards = h('div', { class: 'cards', 'data-testid': 'totals' });
  const hint = h('div');
  const liveBox = h('div');
  const hourBox = h('div');
  const groupsBox = h('div');
  add(ctx.root, 
    h('h1', null, 'Overview'),
    cards, hint,
    h('div', { class: 'grid-2' },
      panel(['Live throughput ', h('span', { class: 'muted small' }, 'messages per second, every 3 s')], liveBox),
      panel(['Last hour ', h('span', { class: 'muted small' }, 'messages per minute')], hourBox)),
    panel('Groups with the most lag', groupsBox),
  );
  const live = timeChart(liveBox, [{ label: 'produced/s', color: COLORS.produced }, { label: 'consumed/s', color: COLORS.consumed }],
    { emptyText: 'Idle: nothing produced or consumed lately', windowMs: LIVE_POINTS * LIVE_MS });
  const hour = timeChart(hourBox, [{ label: 'produced', color: COLORS.produced, bars: true }, { label: 'consumed', color: COLORS.consumed }],
    { emptyText: 'No messages in the last hour' });
  ctx.onCleanup(() => { live.destroy(); hour.destroy(); });

  const xs: number[] = [], ps: number[] = [], cs: number[] = [];
  ctx.every(LIVE_MS, async () => {
    const c = await get<Cluster>('/v1/cluster');
    if (!ctx.alive()) return;
    const t = c.totals;
    fill(cards,
      card('Topics', num(t.topics)),
      card('Brokers', num(t.brokers), 'one per topic queue'),
      card('Messages stored', num(t.messages)),
      card('Storage', bytes(t.bytes)),
      card('Produce', `${rate(t.produceTps)}/s`),
      card('Consume', `${rate(t.consumeTps)}/s`),
      card('Push connections', num(t.connections ?? 0)));
    fill(hint, t.topics === 0
      ? empty('No topics yet', 'Create one on the ', link('#/topics', 'Topics'), ' page, then send a test message from it; the charts fill as messages flow.')
      : null);
    xs.push(Date.now()); ps.push(t.produceTps); cs.push(t.consumeTps);
    if (xs.length > LIVE_POINTS) { xs.shift(); ps.shift(); cs.shift(); }
    live.setData(xs, [ps, cs]);
  });

  ctx.every(15_000, async () => {
    const [s, g] = await Promise.all([get<Stats>('/v1/stats?minutes=60'), get<{ groups: GroupSummary[] }>('/v1/groups')]);
    if (!ctx.alive()) return;
    hour.setData(s.series.map((p) => p.minute), [s.series.map((p) => p.produced), s.series.map((p) => p.consumed)]);
    const top = [...g.groups].sort((a, b) => b.lag - a.lag).slice(0, 5);
    fill(groupsBox, top.length
      ? table([
        { label: 'Group', cell: (r: GroupSummary) => link(`#/groups/${encodeURIComponent(r.name)}`, r.name) },
        { label: 'Mode', cell: (r) => r.mode },
        { label: 'Lag', cell: (r) => num(r.lag), class: 'num' },
        { label: 'Consumers', cell: (r) => num(r.consumers), class: 'num' },
      ], top)
      : empty('No consumer groups yet', 'A group appears when a consumer first receives from a topic, or create one on the ', link('#/groups', 'Consumer groups'), ' page.'));
  });
}
