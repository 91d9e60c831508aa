/** Cluster: the NameServer's view, every broker (one Durable Object per topic queue) with its load. */
import { get } from '../api';
import { add, bytes, card, empty, fill, h, link, num, panel, rate, table, when } from '../dom';
import type { Ctx } from '../main';
import type { Broker, Cluster } from '../types';

export async function clusterPage(ctx: Ctx): Promise<void> {
  const cards = h('div', { class: 'cards' });
  const filter = h('input', { type: 'search', placeholder: 'Filter by topic', class: 'filter', 'aria-label': 'Filter brokers by topic' });
  const body = h('div');
  add(ctx.root, h('h1', null, 'Cluster'),
    h('p', { class: 'muted' }, 'The NameServer keeps the catalog of topics and groups; each topic queue is its own broker (a Durable Object) that stores and delivers that queue.'),
    cards, panel(['Brokers ', filter], body));
  let last: Cluster | null = null;
  const render = () => {
    if (!last) return;
    const f = filter.value.trim().toLowerCase();
    const rows = last.brokers.filter((b) => !f || b.topic.toLowerCase().includes(f))
      .sort((a, b) => a.topic.localeCompare(b.topic) || a.queueId - b.queueId);
    fill(body, rows.length
      ? table([
        { label: 'Topic', cell: (b: Broker) => link(`#/topics/${encodeURIComponent(b.topic)}`, b.topic) },
        { label: 'Queue', cell: (b) => b.queueId, class: 'num' },
        { label: 'Messages', cell: (b) => num(b.messages), class: 'num' },
        { label: 'Bytes', cell: (b) => bytes(b.bytes), class: 'num' },
        { label: 'Offsets', cell: (b) => (b.minOffset !== undefined ? `${num(b.minOffset)} – ${num(b.maxOffset)}` : '—'), class: 'num' },
        { label: 'Scheduled', cell: (b) => num(b.scheduled ?? 0), class: 'num' },
        { label: 'Push conns', cell: (b) => num(b.connections ?? 0), class: 'num' },
        { label: 'Produce/s', cell: (b) => rate(b.produceTps), class: 'num' },
        { label: 'Consume/s', cell: (b) => rate(b.consumeTps), class: 'num' },
        { label: 'Last active', cell: (b) => when(b.lastActive) },
      ], rows, { 'data-testid': 'brokers' })
      : last.brokers.length
        ? empty(`No broker of a topic matching "${filter.value}"`, 'Clear the filter to see all of them.')
        : empty('No brokers yet', 'Each topic queue is one broker: ', link('#/topics', 'create a topic'), ' and its queues appear here.'));
  };
  filter.addEventListener('input', render);
  ctx.every(5000, async () => {
    const c = await get<Cluster>('/v1/cluster');
    if (!ctx.alive()) return;
    last = c;
    const t = c.totals;
    fill(cards,
      card('Topics (NameServer)', num(c.nameServer?.topics ?? t.topics)),
      card('Brokers', num(t.brokers)),
      card('Messages', num(t.messages)),
      card('Storage', bytes(t.bytes)),
      card('Produce', `${rate(t.produceTps)}/s`),
      card('Consume', `${rate(t.consumeTps)}/s`),
      card('Push connections', num(t.connections ?? 0)));
    render();
  });
}
