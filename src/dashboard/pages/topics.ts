/** Topics: list and create; one topic's queues, settings, test message, groups (reset, skip the backlog), delete. */
import { ApiError, del, get, patch, post, qs, seg } from '../api';
import {
  add, dateCard, alert, badge, bytes, card, duration, empty, errorBox, field, fill, h, link, num, panel, run, select, table, when,
} from '../dom';
import type { Ctx } from '../main';
import type { GroupDetail, GroupSummary, Produced, QueueStatus, Topic, TopicDetail, TopicSummary } from '../types';
import { resetOffsetForm, resetResult, statsChart } from '../widgets';

const TYPES = ['MIXED', 'NORMAL', 'FIFO', 'DELAY', 'TRANSACTION'];
const isSystem = (name: string) => name.startsWith('%');
const topicHref = (name: string) => `#/topics/${seg(name)}`;

export async function topicsPage(ctx: Ctx): Promise<void> {
  const name = h('input', { name: 'name', required: true, placeholder: 'orders', pattern: '[A-Za-z0-9_\\-]{1,127}', title: '1-127 of A-Z a-z 0-9 _ -', autocomplete: 'off' });
  const type = select('type', TYPES, 'MIXED');
  const queues = h('input', { name: 'queues', type: 'number', min: 1, max: 64, value: 4, required: true });
  const retention = h('input', { name: 'retentionHours', type: 'number', min: 1, value: 72 });
  const maxBytes = h('input', { name: 'maxMessageBytes', type: 'number', min: 1, max: 4194304, value: 1048576 });
  const dedup = h('input', { name: 'dedupWindowMs', type: 'number', min: 0, value: 600000 });
  const out = h('div', { class: 'out' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Create topic');
  const form = h('form', { class: 'form', 'data-testid': 'create-topic' },
    h('div', { class: 'row' }, field('Name', name), field('Type', type, 'MIXED takes every kind of message'), field('Queues', queues, '1 to 64; each is a broker')),
    h('details', null, h('summary', null, 'More settings'),
      h('div', { class: 'row' }, field('Retention (hours)', retention), field('Max message size (bytes)', maxBytes), field('Dedup window (ms)', dedup))),
    h('div', { class: 'actions' }, btn), out);
  const filter = h('input', { type: 'search', placeholder: 'Filter', class: 'filter', 'aria-label': 'Filter topics' });
  const list = h('div', { 'data-testid': 'topic-list' });
  add(ctx.root, h('h1', null, 'Topics'), panel('Create a topic', form), panel(['All topics ', filter], list));

  let topics: TopicSummary[] | null = null;
  const render = () => {
    if (!topics) return;
    const f = filter.value.trim().toLowerCase();
    const rows = topics.filter((t) => !f || t.name.toLowerCase().includes(f)).sort((a, b) => Number(isSystem(a.name)) - Number(isSystem(b.name)) || a.name.localeCompare(b.name));
    fill(list, rows.length
      ? table([
        { label: 'Name', cell: (t: TopicSummary) => [link(topicHref(t.name), t.name), isSystem(t.name) ? [' ', badge('system', 'muted')] : null] },
        { label: 'Type', cell: (t) => badge(t.type, 'type') },
        { label: 'Queues', cell: (t) => t.queues, class: 'num' },
        { label: 'Messages', cell: (t) => num(t.messages), class: 'num' },
        { label: 'Size', cell: (t) => bytes(t.bytes), class: 'num' },
        { label: '', cell: (t) => link(`#/messages${qs({ topic: t.name, by: 'time' })}`, 'Browse messages') },
      ], rows)
      : topics.length
        ? empty(`No topic matches "${filter.value}"`, 'Clear the filter to see all topics.')
        : empty('No topics yet — create one above.', 'Give it a name such as "orders"; then open it to send a test message.'));
  };
  filter.addEventListener('input', render);
  const load = async () => {
    const r = await get<{ topics: TopicSummary[] }>('/v1/topics');
    if (!ctx.alive()) return;
    topics = r.topics;
    render();
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(btn, out, async () => {
      const t = await post<Topic>('/v1/topics', {
        name: name.value.trim(), type: type.value, queues: Number(queues.value),
        retentionHours: Number(retention.value), maxMessageBytes: Number(maxBytes.value), dedupWindowMs: Number(dedup.value),
      });
      name.value = '';
      await load();
      return alert('ok', 'Created topic ', link(topicHref(t.name), t.name), ` (${t.type}, ${t.queues} queues). Open it to send a test message.`);
    });
  });
  ctx.every(10_000, load);
}

export async function topicPage(ctx: Ctx): Promise<void> {
  const name = ctx.params[0];
  let t: TopicDetail;
  try {
    t = await get<TopicDetail>(`/v1/topics/${seg(name)}`);
  } catch (e) {
    add(ctx.root, h('h1', null, name), errorBox(e),
      e instanceof ApiError && e.code === 'TOPIC_NOT_FOUND' ? empty('This topic does not exist (any more).', link('#/topics', 'See all topics'), ' or create it there.') : null);
    return;
  }
  if (!ctx.alive()) return;
  const cards = h('div', { class: 'cards' });
  const queuesBox = h('div');
  const chartBox = h('div');
  const groupsBox = h('div');
  const groupsOut = h('div', { class: 'out' });
  const system = isSystem(t.name);
  const renderCards = (d: TopicDetail) => fill(cards,
    card('Messages', num(d.messages)), card('Size', bytes(d.bytes)), card('Queues', num(d.queues)),
    card('Retention', `${d.retentionHours} h`), card('Max message', bytes(d.maxMessageBytes)),
    card('Dedup window', duration(d.dedupWindowMs)), dateCard('Created', d.createdAt));
  const renderQueues = (qsList: QueueStatus[]) => fill(queuesBox, table([
    { label: 'Queue', cell: (q: QueueStatus) => q.queueId, class: 'num' },
    { label: 'Min offset', cell: (q) => num(q.minOffset), class: 'num' },
    { label: 'Max offset', cell: (q) => num(q.maxOffset), class: 'num' },
    { label: 'Messages', cell: (q) => num(q.messages), class: 'num' },
    { label: 'Size', cell: (q) => bytes(q.bytes), class: 'num' },
    { label: 'Last stored', cell: (q) => when(q.lastStoreTimestamp) },
    { label: '', cell: (q) => link(`#/messages${qs({ topic: t.name, by: 'position', queueId: q.queueId, offset: q.minOffset })}`, 'Browse') },
  ], qsList, { 'data-testid': 'queue-status' }));
  renderCards(t);
  renderQueues(t.queueStatus);

  add(ctx.root, 
    h('div', { class: 'title-row' }, h('h1', null, t.name), badge(t.type, 'type'),
      h('span', { class: 'spacer' }),
      link(`#/messages${qs({ topic: t.name, by: 'time' })}`, 'Query messages →')),
    h('p', { class: 'crumbs' }, link('#/topics', '← All topics')),
    cards,
    panel('Queues', queuesBox),
    panel(['Produced ', h('span', { class: 'muted small' }, 'per minute, last hour')], chartBox),
    system ? null : panel('Send a test message', sendForm(t, () => void refresh())),
    panel('Consumer groups on this topic', groupsBox, groupsOut),
    panel("Reset a group's offset", h('p', { class: 'muted' }, 'Consumers of the group continue from the new position. A group that does not exist yet is created and subscribed to this topic.'),
      resetOffsetForm({ topic: t.name, onDone: () => void loadGroups() })),
    system ? null : panel('Settings', settingsForm(t, (n) => { t = { ...t, ...n }; renderCards(t); })),
    panel('Delete topic', deleteBox(ctx, t.name)),
  );
  statsChart(ctx, chartBox, { topic: t.name });

  const refresh = async () => {
    const d = await get<TopicDetail>(`/v1/topics/${seg(name)}`);
    if (!ctx.alive()) return;
    t = d;
    renderCards(d);
    renderQueues(d.queueStatus);
  };
  ctx.every(5000, refresh);

  const loadGroups = async () => {
    const list = await get<{ groups: GroupSummary[] }>('/v1/groups');
    const details = (await Promise.all(list.groups.slice(0, 100).map((g) => get<GroupDetail>(`/v1/groups/${seg(g.name)}`).catch(() => null))))
      .filter((d): d is GroupDetail => !!d && d.subscriptions.some((s) => s.topic === name));
    if (!ctx.alive()) return;
    let dl = ctx.root.querySelector('#reset-groups');
    if (!dl) add(ctx.root, dl = h('datalist', { id: 'reset-groups' }));
    fill(dl, list.groups.map((g) => h('option', { value: g.name })));
    const rows = details.map((d) => {
      const qsOf = d.queues.filter((q) => q.topic === name);
      return { d, lag: qsOf.reduce((n, q) => n + q.lag, 0), inflight: qsOf.reduce((n, q) => n + q.inflight, 0), consumers: d.consumers.filter((c) => c.topic === name).length };
    }).sort((a, b) => b.lag - a.lag);
    fill(groupsBox, rows.length
      ? table([
        { label: 'Group', cell: (r: typeof rows[number]) => link(`#/groups/${seg(r.d.name)}`, r.d.name) },
        { label: 'Mode', cell: (r) => r.d.mode },
        { label: 'Lag', cell: (r) => num(r.lag), class: 'num' },
        { label: 'In flight', cell: (r) => num(r.inflight), class: 'num' },
        { label: 'Consumers', cell: (r) => num(r.consumers), class: 'num' },
        {
          label: '', cell: (r) => h('button', {
            type: 'button', class: 'small', disabled: r.lag === 0, title: r.lag === 0 ? 'nothing to skip' : 'move the group to the newest message',
            'data-testid': `skip-${r.d.name}`,
            onclick: (ev: Event) => {
              if (!confirm(`Skip the backlog of group "${r.d.name}" on topic "${name}"? Its ${r.lag} unconsumed messages will not be delivered to it.`)) return;
              void run(ev.currentTarget as HTMLButtonElement, groupsOut, async () => {
                const res = await post<{ group: string; topic: string; offsets: { queueId: number; offset: number }[] }>(`/v1/groups/${seg(r.d.name)}/reset-offset`, { topic: name, to: 'LATEST' });
                await loadGroups();
                return resetResult(res);
              });
            },
          }, 'Skip backlog'),
        },
      ], rows, { 'data-testid': 'topic-groups' })
      : empty('No group consumes this topic yet.', 'A group shows up here once a consumer receives from it; or reset a group\'s offset below, which subscribes it.'));
  };
  ctx.every(10_000, loadGroups);
}

function sendForm(t: Topic, onSent: () => void): HTMLElement {
  const body = h('textarea', { name: 'body', rows: 4, spellcheck: false }, JSON.stringify({ hello: 'edgemq', sentFrom: 'dashboard' }));
  const enc = select('encoding', [['json', 'JSON'], ['text', 'Text']], 'json');
  const tag = h('input', { name: 'tag', placeholder: 'e.g. created', maxlength: 128 });
  const keys = h('input', { name: 'keys', placeholder: 'comma-separated, e.g. order-42' });
  const props = h('textarea', { name: 'properties', rows: 2, placeholder: 'name=value, one per line', spellcheck: false });
  const group = h('input', { name: 'messageGroup', placeholder: t.type === 'FIFO' ? 'required for FIFO' : 'FIFO only', required: t.type === 'FIFO' });
  const delay = h('input', { name: 'delayMs', type: 'number', min: 0, placeholder: t.type === 'DELAY' ? 'required for DELAY' : 'deliver later', required: t.type === 'DELAY' });
  const out = h('div', { class: 'out', 'data-testid': 'send-result' });
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const form = h('form', { class: 'form', 'data-testid': 'send-message' },
    t.type === 'TRANSACTION' ? alert('info', 'A TRANSACTION topic takes only transactional sends (POST /v1/topics/{topic}/transactions); this form sends plain messages.') : null,
    h('div', { class: 'row' }, field('Body', body), field('Body is', enc)),
    h('div', { class: 'row' }, field('Keys', keys, 'indexed: find the message by key later'), field('Tag', tag)),
    h('div', { class: 'row' }, field('Properties', props), field('Message group', group), field('Delay (ms)', delay)),
    h('div', { class: 'actions' }, btn), out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(btn, out, async () => {
      const m: Record<string, unknown> = {};
      if (enc.value === 'json') {
        try { m.body = JSON.parse(body.value); } catch (e) { throw new Error(`The body is not valid JSON (${(e as Error).message}); fix it or send it as text.`); }
        m.encoding = 'json';
      } else { m.body = body.value; m.encoding = 'text'; }
      if (tag.value.trim()) m.tag = tag.value.trim();
      const ks = keys.value.split(',').map((k) => k.trim()).filter(Boolean);
      if (ks.length) m.keys = ks;
      const p: Record<string, string> = {};
      for (const line of props.value.split('\n')) {
        if (!line.trim()) continue;
        const i = line.indexOf('=');
        if (i < 1) throw new Error(`Properties: "${line.trim()}" is not name=value.`);
        p[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      if (Object.keys(p).length) m.properties = p;
      if (group.value.trim()) m.messageGroup = group.value.trim();
      if (delay.value) m.delayMs = Number(delay.value);
      const r = await post<{ messages: Produced[] }>(`/v1/topics/${seg(t.name)}/messages`, m);
      const p0 = r.messages[0];
      onSent();
      const href = `#/messages/${seg(t.name)}/${seg(p0.messageId)}`;
      return alert('ok', h('div', null, p0.duplicate ? 'Duplicate of an earlier send (same dedupId): ' : 'Sent ', h('code', { 'data-testid': 'sent-id' }, p0.messageId),
        p0.queueOffset === null ? ` to queue ${p0.queueId} (scheduled: it gets its offset when due).` : ` to queue ${p0.queueId} at offset ${p0.queueOffset}.`),
      h('div', { class: 'links' }, link(href, 'Open message'), link(`${href}?trace=1`, 'Trace'),
        ks.length ? link(`#/messages${qs({ topic: t.name, by: 'key', key: ks[0] })}`, `Find by key "${ks[0]}"`) : null));
    });
  });
  return form;
}

function settingsForm(t: Topic, onSaved: (t: Topic) => void): HTMLElement {
  const queues = h('input', { name: 'queues', type: 'number', min: t.queues, max: 64, value: t.queues });
  const retention = h('input', { name: 'retentionHours', type: 'number', min: 1, value: t.retentionHours });
  const maxBytes = h('input', { name: 'maxMessageBytes', type: 'number', min: 1, max: 4194304, value: t.maxMessageBytes });
  const dedup = h('input', { name: 'dedupWindowMs', type: 'number', min: 0, value: t.dedupWindowMs });
  const trace = h('input', { name: 'trace', type: 'checkbox', checked: t.trace !== false });
  const out = h('div', { class: 'out' });
  const btn = h('button', { type: 'submit' }, 'Save settings');
  const form = h('form', { class: 'form', 'data-testid': 'topic-settings' },
    h('div', { class: 'row' },
      field('Queues', queues, 'can only grow'), field('Retention (hours)', retention),
      field('Max message size (bytes)', maxBytes), field('Dedup window (ms)', dedup)),
    h('label', { class: 'check' }, trace, ' Record trace events for new messages'),
    h('div', { class: 'actions' }, btn), out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void run(btn, out, async () => {
      const change: Record<string, unknown> = {};
      const set = (k: keyof Topic, v: unknown) => { if (v !== t[k]) change[k] = v; };
      set('queues', Number(queues.value)); set('retentionHours', Number(retention.value));
      set('maxMessageBytes', Number(maxBytes.value)); set('dedupWindowMs', Number(dedup.value));
      if (trace.checked !== (t.trace !== false)) change.trace = trace.checked;
      if (!Object.keys(change).length) return alert('info', 'Nothing changed.');
      const n = await patch<Topic>(`/v1/topics/${seg(t.name)}`, change);
      t = n;
      queues.min = String(n.queues);
      onSaved(n);
      return alert('ok', `Saved: ${Object.keys(change).join(', ')}.`);
    });
  });
  return form;
}

function deleteBox(ctx: Ctx, name: string): HTMLElement {
  const out = h('div', { class: 'out' });
  const btn = h('button', {
    type: 'button', class: 'danger', 'data-testid': 'delete-topic',
    onclick: () => {
      if (!confirm(`Delete topic "${name}" and all of its messages? This cannot be undone.`)) return;
      void run(btn, out, async () => {
        await del(`/v1/topics/${seg(name)}`);
        ctx.go('#/topics');
      });
    },
  }, 'Delete this topic');
  return h('div', null, h('p', { class: 'muted' }, 'Deletes the topic and every message in it, for every group.'), btn, out);
}
