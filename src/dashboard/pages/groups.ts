/** Consumer groups: the list by lag; one group's config, live consumers, per-queue lag, reset offset, DLQ. */
import { ApiError, del, get, put, seg } from '../api';
import {
  add, dateCard, alert, badge, card, duration, empty, errorBox, field, fill, fromLocalInput, h, link, num, panel, run, select, table, time, toLocalInput, when,
} from '../dom';
import type { Ctx } from '../main';
import type { Consumer, Group, GroupDetail, GroupQueue, GroupSummary, RetryPolicy, TopicSummary } from '../types';
import { resetOffsetForm, statsChart } from '../widgets';

const groupHref = (name: string) => `#/groups/${seg(name)}`;

export async function groupsPage(ctx: Ctx): Promise<void> {
  const name = h('input', { name: 'name', required: true, placeholder: 'billing', pattern: '[A-Za-z0-9_\\-]{1,120}', title: '1-120 of A-Z a-z 0-9 _ -', autocomplete: 'off' });
  const mode = select('mode', ['CLUSTERING', 'BROADCASTING'], 'CLUSTERING');
  const retries = h('input', { name: 'maxRetries', type: 'number', min: 0, max: 32, value: 16 });
  const out = h('div', { class: 'out' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Create group');
  const form = h('form', { class: 'form', 'data-testid': 'create-group' },
    h('div', { class: 'row' }, field('Name', name), field('Mode', mode, 'CLUSTERING: one consumer per message; BROADCASTING: every consumer'), field('Max retries', retries)),
    h('div', { class: 'actions' }, btn), out);
  const filter = h('input', { type: 'search', placeholder: 'Filter', class: 'filter', 'aria-label': 'Filter groups' });
  const list = h('div', { 'data-testid': 'group-list' });
  add(ctx.root, h('h1', null, 'Consumer groups'), panel(['Groups ', h('span', { class: 'muted small' }, 'most lag first'), filter], list), panel('Create a group', form));

  let groups: GroupSummary[] | null = null;
  const render = () => {
    if (!groups) return;
    const f = filter.value.trim().toLowerCase();
    const rows = groups.filter((g) => !f || g.name.toLowerCase().includes(f)).sort((a, b) => b.lag - a.lag || a.name.localeCompare(b.name));
    const max = Math.max(1, ...rows.map((g) => g.lag));
    fill(list, rows.length
      ? table([
        { label: 'Group', cell: (g: GroupSummary) => link(groupHref(g.name), g.name) },
        { label: 'Mode', cell: (g) => g.mode },
        { label: 'Lag', cell: (g) => h('div', { class: 'lag' }, h('span', { class: 'lag-bar', style: `width:${Math.round((g.lag / max) * 100)}%` }), h('span', null, num(g.lag))), class: 'lag-cell' },
        { label: 'Consumers', cell: (g) => (g.consumers ? num(g.consumers) : h('span', { class: 'muted' }, 'none')), class: 'num' },
        { label: '', cell: (g) => link(`#/dlq/${seg(g.name)}`, 'Dead letters') },
      ], rows)
      : groups.length
        ? empty(`No group matches "${filter.value}"`, 'Clear the filter to see all groups.')
        : empty('No consumer groups yet.', 'A group appears when a consumer first receives from a topic (SDK, CLI or POST …/subscriptions/{group}/receive), or create one below.'));
  };
  filter.addEventListener('input', render);
  const load = async () => {
    const r = await get<{ groups: GroupSummary[] }>('/v1/groups');
    if (!ctx.alive()) return;
    groups = r.groups;
    render();
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(btn, out, async () => {
      const g = await put<Group>(`/v1/groups/${seg(name.value.trim())}`, { mode: mode.value, maxRetries: Number(retries.value) });
      name.value = '';
      await load();
      return alert('ok', 'Saved group ', link(groupHref(g.name), g.name), '. It receives from a topic once a consumer subscribes, or after a reset of its offset on that topic.');
    });
  });
  ctx.every(5000, load);
}

const consumeFromText = (c: Group['consumeFrom']) => (typeof c === 'string' ? c : `from ${time(c.timestamp)}`);
const retryText = (r: RetryPolicy) => (r.type === 'CUSTOMIZED' ? 'CUSTOMIZED (10s 30s 1m 2m … 2h)' : `EXPONENTIAL ${duration(r.initialMs)} ×${r.multiplier} up to ${duration(r.maxMs)}`);

export async function groupPage(ctx: Ctx): Promise<void> {
  const name = ctx.params[0];
  let g: GroupDetail;
  try {
    g = await get<GroupDetail>(`/v1/groups/${seg(name)}`);
  } catch (e) {
    add(ctx.root, h('h1', null, name), errorBox(e),
      e instanceof ApiError && e.code === 'GROUP_NOT_FOUND' ? empty('This group does not exist.', link('#/groups', 'See all groups'), ' or create it there.') : null);
    return;
  }
  if (!ctx.alive()) return;
  const topics = await get<{ topics: TopicSummary[] }>('/v1/topics').then((r) => r.topics.map((t) => t.name)).catch(() => [] as string[]);
  const cards = h('div', { class: 'cards' });
  const consumersBox = h('div', { 'data-testid': 'consumers' });
  const queuesBox = h('div', { 'data-testid': 'group-queues' });
  const subsBox = h('div');
  const chartBox = h('div');
  const render = (d: GroupDetail) => {
    fill(cards,
      card('Total lag', num(d.lag)), card('Consumers', num(d.consumers.length)),
      card('In flight', num(d.queues.reduce((n, q) => n + q.inflight, 0))), card('Retrying', num(d.queues.reduce((n, q) => n + q.retrying, 0))),
      card('Max retries', num(d.maxRetries), 'then dead-lettered'), card('Invisible for', duration(d.invisibleMs)), dateCard('Created', d.createdAt));
    fill(subsBox, d.subscriptions.length
      ? h('ul', { class: 'plain' }, d.subscriptions.map((s) => h('li', null, link(`#/topics/${seg(s.topic)}`, s.topic), ' ',
        h('span', { class: 'muted' }, s.filter === null || s.filter === undefined ? 'all messages' : `filter ${typeof s.filter === 'string' ? s.filter : JSON.stringify(s.filter)}`))))
      : empty('Subscribed to no topic yet.', 'A consumer that receives from a topic subscribes the group to it; so does resetting its offset on a topic below.'));
    fill(consumersBox, d.consumers.length
      ? table([
        { label: 'Consumer', cell: (c: Consumer) => h('code', null, c.consumerId) },
        { label: 'Transport', cell: (c) => badge(c.transport === 'ws' ? 'WebSocket push' : 'pull', c.transport) },
        { label: 'Topic', cell: (c) => link(`#/topics/${seg(c.topic)}`, c.topic) },
        { label: 'Connected / last seen', cell: (c) => (c.connectedAt ? ['connected ', when(c.connectedAt)] : ['last receive ', when(c.lastSeen)]) },
      ], d.consumers)
      : empty('No live consumers.', 'Start one with the SDK or the CLI: push consumers show while connected, pull consumers for a while after each receive.'));
    fill(queuesBox, d.queues.length
      ? table([
        { label: 'Topic', cell: (q: GroupQueue) => link(`#/topics/${seg(q.topic)}`, q.topic) },
        { label: 'Queue', cell: (q) => q.queueId, class: 'num' },
        { label: 'Broker offset', cell: (q) => num(q.brokerOffset), class: 'num' },
        { label: 'Consumer offset', cell: (q) => num(q.consumerOffset), class: 'num' },
        { label: 'Lag', cell: (q) => (q.lag ? h('strong', null, num(q.lag)) : '0'), class: 'num' },
        { label: 'In flight', cell: (q) => num(q.inflight), class: 'num' },
        { label: 'Retrying', cell: (q) => num(q.retrying), class: 'num' },
      ], [...d.queues].sort((a, b) => a.topic.localeCompare(b.topic) || a.queueId - b.queueId))
      : empty('No queues to show.', 'Per-queue lag appears once the group subscribes to a topic.'));
  };
  render(g);

  add(ctx.root, 
    h('div', { class: 'title-row' }, h('h1', null, g.name), badge(g.mode, 'mode'), h('span', { class: 'spacer' }), link(`#/dlq/${seg(g.name)}`, 'Dead letters →')),
    h('p', { class: 'crumbs' }, link('#/groups', '← All groups')),
    cards,
    h('div', { class: 'grid-2' },
      panel(['Consumers ', h('span', { class: 'muted small' }, 'live')], consumersBox),
      panel(['Consumed and lag ', h('span', { class: 'muted small' }, 'per minute, last hour')], chartBox)),
    panel('Per-queue lag', queuesBox),
    panel('Subscriptions', subsBox),
    panel('Reset offset', h('p', { class: 'muted' }, 'Move the group on one topic; its consumers continue from there. "A point in time" replays (or skips) to the first message stored at or after it.'),
      resetOffsetForm({ group: g.name, topics: [...new Set([...g.subscriptions.map((s) => s.topic), ...topics])], onDone: () => void refresh() })),
    panel('Configuration', configForm(g, (n) => { g = { ...g, ...n }; render(g); })),
    panel('Delete group', deleteBox(ctx, g.name)),
  );
  statsChart(ctx, chartBox, { group: g.name });
  const refresh = async () => {
    const d = await get<GroupDetail>(`/v1/groups/${seg(name)}`);
    if (!ctx.alive()) return;
    g = d;
    render(d);
  };
  ctx.every(3000, refresh);
}

function configForm(g: Group, onSaved: (g: Group) => void): HTMLElement {
  const mode = select('mode', ['CLUSTERING', 'BROADCASTING'], g.mode);
  const from = select('consumeFrom', [['FIRST', 'FIRST: the oldest retained message'], ['LAST', 'LAST: only new messages'], ['TIME', 'From a point in time']],
    typeof g.consumeFrom === 'string' ? g.consumeFrom : 'TIME');
  const fromAt = h('input', { type: 'datetime-local', step: 1, name: 'consumeFromTime', value: toLocalInput(typeof g.consumeFrom === 'object' ? g.consumeFrom.timestamp : Date.now()) });
  const retries = h('input', { name: 'maxRetries', type: 'number', min: 0, max: 32, value: g.maxRetries });
  const invisible = h('input', { name: 'invisibleMs', type: 'number', min: 1000, max: 43200000, value: g.invisibleMs });
  const policy = select('retryPolicy', [['CUSTOMIZED', 'CUSTOMIZED: 10s 30s 1m 2m … 2h'], ['EXPONENTIAL', 'EXPONENTIAL']], g.retryPolicy.type);
  const exp = g.retryPolicy.type === 'EXPONENTIAL' ? g.retryPolicy : { initialMs: 1000, maxMs: 7_200_000, multiplier: 2 };
  const initialMs = h('input', { name: 'initialMs', type: 'number', min: 0, value: exp.initialMs });
  const maxMs = h('input', { name: 'maxMs', type: 'number', min: 0, value: exp.maxMs });
  const mult = h('input', { name: 'multiplier', type: 'number', min: 1, max: 100, step: 0.1, value: exp.multiplier });
  const fromRow = field('Consume from (local time)', fromAt);
  const expRow = h('div', { class: 'row' }, field('Initial backoff (ms)', initialMs), field('Max backoff (ms)', maxMs), field('Multiplier', mult));
  const sync = () => { fromRow.hidden = from.value !== 'TIME'; expRow.hidden = policy.value !== 'EXPONENTIAL'; };
  from.addEventListener('change', sync); policy.addEventListener('change', sync); sync();
  const out = h('div', { class: 'out' });
  const btn = h('button', { type: 'submit' }, 'Save configuration');
  const form = h('form', { class: 'form', 'data-testid': 'group-config' },
    h('div', { class: 'row' }, field('Mode', mode), field('Consume from', from, 'where a queue has no offset yet'), fromRow),
    h('div', { class: 'row' }, field('Max retries', retries, 'deliveries = 1 + this; then dead-lettered'), field('Invisible for (ms)', invisible, 'lease of a delivered message'), field('Retry backoff', policy)),
    expRow,
    h('p', { class: 'muted small' }, 'Now: ', retryText(g.retryPolicy), ' · consume from ', consumeFromText(g.consumeFrom)),
    h('div', { class: 'actions' }, btn), out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(btn, out, async () => {
      let consumeFrom: Group['consumeFrom'];
      if (from.value === 'TIME') {
        const t = fromLocalInput(fromAt.value);
        if (t === null) throw new Error('Pick the time to consume from.');
        consumeFrom = { timestamp: t };
      } else consumeFrom = from.value as 'FIRST' | 'LAST';
      const retryPolicy: RetryPolicy = policy.value === 'EXPONENTIAL'
        ? { type: 'EXPONENTIAL', initialMs: Number(initialMs.value), maxMs: Number(maxMs.value), multiplier: Number(mult.value) }
        : { type: 'CUSTOMIZED' };
      const n = await put<Group>(`/v1/groups/${seg(g.name)}`, {
        mode: mode.value, consumeFrom, maxRetries: Number(retries.value), invisibleMs: Number(invisible.value), retryPolicy,
      });
      onSaved(n);
      return alert('ok', 'Saved. Consumers pick up the new settings on their next delivery.');
    });
  });
  return form;
}

function deleteBox(ctx: Ctx, name: string): HTMLElement {
  const out = h('div', { class: 'out' });
  const btn = h('button', {
    type: 'button', class: 'danger', 'data-testid': 'delete-group',
    onclick: () => {
      if (!confirm(`Delete group "${name}" and its offsets on every topic?`)) return;
      void run(btn, out, async () => {
        await del(`/v1/groups/${seg(name)}`);
        ctx.go('#/groups');
      });
    },
  }, 'Delete this group');
  return h('div', null, h('p', { class: 'muted' }, 'Forgets the group and its offsets; a consumer that uses the name again starts a new group from its consumeFrom.'), btn, out);
}
