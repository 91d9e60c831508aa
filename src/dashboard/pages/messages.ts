/** Messages: find by id, key, time or queue position; one message with its per-group status, trace and resend. */
import { ApiError, get, post, qs, seg } from '../api';
import {
  add, alert, badge, bodyText, duration, empty, errorBox, field, fill, fromLocalInput, h, link, num, panel, preview, run, select, table, time, toLocalInput,
} from '../dom';
import type { Ctx } from '../main';
import type { GroupSummary, Message, MessageDetail, Page, TopicSummary, TraceEvent } from '../types';

export const messageHref = (topic: string, id: string) => `#/messages/${seg(topic)}/${seg(id)}`;
type By = 'id' | 'key' | 'time' | 'position';
const BY: [By, string][] = [['key', 'Key'], ['id', 'Message ID'], ['time', 'Time range'], ['position', 'Queue position']];
const DAY = 86_400_000;

export async function messagesPage(ctx: Ctx): Promise<void> {
  const q = ctx.query;
  const by = (BY.some(([b]) => b === q.get('by')) ? q.get('by') : 'key') as By;
  const topics = await get<{ topics: TopicSummary[] }>('/v1/topics').then((r) => r.topics).catch((e) => { add(ctx.root, errorBox(e)); return [] as TopicSummary[]; });
  if (!ctx.alive()) return;
  const names = topics.map((t) => t.name).sort((a, b) => Number(a.startsWith('%')) - Number(b.startsWith('%')) || a.localeCompare(b));
  const topic = q.get('topic') ?? names[0] ?? '';
  const topicIn = names.length
    ? select('topic', names.includes(topic) || !topic ? names : [topic, ...names], topic, { 'aria-label': 'Topic' })
    : h('input', { name: 'topic', value: topic, placeholder: 'topic', required: true });
  const byIn = h('div', { class: 'tabs', role: 'radiogroup' }, BY.map(([b, label]) => h('label', { class: 'tab' },
    h('input', { type: 'radio', name: 'by', value: b, checked: b === by }), label)));
  const key = h('input', { name: 'key', placeholder: 'e.g. order-42', value: q.get('key') ?? '' });
  const id = h('input', { name: 'id', placeholder: 'messageId, as produce answered', value: q.get('id') ?? '', class: 'wide' });
  const startV = Number(q.get('start')) || Date.now() - DAY;
  const endV = Number(q.get('end')) || 0;
  const start = h('input', { type: 'datetime-local', step: 1, name: 'start', value: toLocalInput(startV) });
  const end = h('input', { type: 'datetime-local', step: 1, name: 'end', value: endV ? toLocalInput(endV) : '' });
  const queueId = h('input', { type: 'number', name: 'queueId', min: 0, max: 63, value: q.get('queueId') ?? 0 });
  const offset = h('input', { type: 'number', name: 'offset', min: 0, value: q.get('offset') ?? 0 });
  const parts: Record<By, HTMLElement> = {
    key: h('div', { class: 'row' }, field('Key', key, 'exact match on one of the keys given at send')),
    id: h('div', { class: 'row' }, field('Message ID', id)),
    time: h('div', { class: 'row' }, field('Stored from (local)', start), field('Until (empty: now)', end)),
    position: h('div', { class: 'row' }, field('Queue', queueId), field('From offset', offset)),
  };
  const current = () => (byIn.querySelector('input:checked') as HTMLInputElement | null)?.value as By ?? 'key';
  const sync = () => { for (const [b, el] of Object.entries(parts)) el.hidden = b !== current(); };
  byIn.addEventListener('change', sync);
  sync();
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Search');
  const form = h('form', { class: 'form', 'data-testid': 'query' },
    h('div', { class: 'row' }, field('Topic', topicIn), field('Find by', byIn)),
    Object.values(parts), h('div', { class: 'actions' }, btn));
  const results = h('div', { 'data-testid': 'results' });
  add(ctx.root, h('h1', null, 'Messages'), panel('Find messages', form), results);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = (topicIn as HTMLInputElement | HTMLSelectElement).value.trim();
    const b = current();
    if (b === 'id') { if (t && id.value.trim()) ctx.go(messageHref(t, id.value.trim())); return; }
    const p: Record<string, string | number | undefined> = { topic: t, by: b };
    if (b === 'key') p.key = key.value.trim();
    if (b === 'time') { p.start = fromLocalInput(start.value) ?? undefined; p.end = fromLocalInput(end.value) ?? undefined; }
    if (b === 'position') { p.queueId = queueId.value; p.offset = offset.value; }
    const next = `#/messages${qs(p)}`;
    if (location.hash === next) void search(); else ctx.go(next);
  });

  if (!names.length && !topic) {
    fill(results, empty('No topics yet, so no messages.', link('#/topics', 'Create a topic'), ' and send a test message from its page; then find it here.'));
    return;
  }
  const search = async () => {
    if (!topic) return;
    let base: Record<string, string | number | undefined>;
    let none: () => HTMLElement;
    if (by === 'key') {
      const k = q.get('key');
      if (!k) { fill(results, alert('info', 'Type a key and search. Keys are the ones given at send time (', h('code', null, 'keys'), '), matched exactly.')); return; }
      base = { key: k };
      none = () => empty(`No message with key "${k}" in topic ${topic}.`, 'Keys match exactly (case-sensitive). Try another topic, or ', link(`#/messages${qs({ topic, by: 'time' })}`, 'browse by time'), '.');
    } else if (by === 'time') {
      const s = Number(q.get('start')) || Date.now() - DAY, e = Number(q.get('end')) || Date.now();
      base = { start: s, end: e };
      none = () => empty(`No message was stored in topic ${topic} between ${time(s)} and ${time(e)}.`, 'Widen the time range, or send a test message from the ', link(`#/topics/${seg(topic)}`, 'topic page'), '.');
    } else if (by === 'position') {
      const qi = Number(q.get('queueId') ?? 0), o = Number(q.get('offset') ?? 0);
      base = { queueId: qi, offset: o };
      none = () => empty(`Nothing in queue ${qi} of ${topic} from offset ${o}.`, 'See the queue offsets on the ', link(`#/topics/${seg(topic)}`, 'topic page'), '; retention may have removed older messages.');
    } else return;
    const rows: Message[] = [];
    const body = h('div');
    const more = h('div', { class: 'actions' });
    fill(results, panel(['Results ', h('span', { class: 'muted small' }, `in ${topic}`)], body, more));
    const page = async (cursor?: string) => {
      const r = await get<Page<Message>>(`/v1/topics/${seg(topic)}/messages${qs({ ...base, limit: 50, cursor })}`);
      if (!ctx.alive()) return;
      rows.push(...r.messages);
      fill(body, rows.length ? resultsTable(rows) : none());
      fill(more, r.cursor ? h('button', {
        type: 'button', onclick: (ev: Event) => void run(ev.currentTarget as HTMLButtonElement, h('span'), () => page(r.cursor)),
      }, 'Load more') : rows.length ? h('span', { class: 'muted small' }, `${rows.length} message${rows.length === 1 ? '' : 's'}, all shown`) : null);
    };
    try { await page(); } catch (e) { if (ctx.alive()) fill(body, errorBox(e)); }
  };
  await search();
}

function resultsTable(rows: Message[]): HTMLElement {
  return table([
    { label: 'Message ID', cell: (m: Message) => link(messageHref(m.topic, m.messageId), h('code', null, m.messageId)) },
    { label: 'Queue / offset', cell: (m) => `${m.queueId} / ${num(m.queueOffset)}`, class: 'num' },
    { label: 'Tag', cell: (m) => m.tag ?? '' },
    { label: 'Keys', cell: (m) => (m.keys ?? []).join(', ') },
    { label: 'Stored', cell: (m) => time(m.storeTimestamp) },
    { label: 'Body', cell: (m) => h('span', { class: 'preview' }, preview(m.body, m.encoding)) },
  ], rows, { 'data-testid': 'result-table' });
}

const STATUS_TEXT: Record<string, string> = {
  NOT_CONSUMED_YET: 'not consumed yet', INFLIGHT: 'in flight', RETRYING: 'retrying', CONSUMED: 'consumed', FILTERED: 'filtered out', DLQ: 'dead-lettered',
};

export async function messagePage(ctx: Ctx): Promise<void> {
  const [topic, id] = ctx.params;
  let m: MessageDetail;
  try {
    m = await get<MessageDetail>(`/v1/topics/${seg(topic)}/messages/${seg(id)}`);
  } catch (e) {
    add(ctx.root, h('h1', null, 'Message'), errorBox(e),
      e instanceof ApiError && (e.code === 'MESSAGE_NOT_FOUND' || e.code === 'TOPIC_NOT_FOUND')
        ? empty('Nothing to show.', 'Check the topic and the id (as produce answered it); retention may have deleted the message. Try ', link(`#/messages${qs({ topic, by: 'time' })}`, 'browsing by time'), ' or by key.')
        : null);
    return;
  }
  if (!ctx.alive()) return;
  const groupsList = await get<{ groups: GroupSummary[] }>('/v1/groups').then((r) => r.groups.map((g) => g.name)).catch(() => [] as string[]);
  const statusBox = h('div', { 'data-testid': 'group-status' });
  const resendOut = h('div', { class: 'out', 'data-testid': 'resend-result' });
  const traceBox = h('div', { 'data-testid': 'trace' });
  const { text, note } = bodyText(m.body, m.encoding);
  const origin = m.properties?.ORIGIN_TOPIC && m.properties?.ORIGIN_MESSAGE_ID ? { topic: m.properties.ORIGIN_TOPIC, id: m.properties.ORIGIN_MESSAGE_ID } : null;

  const renderStatus = (d: MessageDetail) => fill(statusBox, d.groups.length
    ? table([
      { label: 'Group', cell: (g: MessageDetail['groups'][number]) => link(`#/groups/${seg(g.group)}`, g.group) },
      { label: 'Consumer', cell: (g) => g.consumerId ?? '' },
      { label: 'Status', cell: (g) => badge(STATUS_TEXT[g.status] ?? g.status, g.status) },
      {
        label: '', cell: (g) => h('button', {
          type: 'button', class: 'small', disabled: d.state !== 'STORED', 'data-testid': `resend-${g.group}`,
          onclick: (ev: Event) => void run(ev.currentTarget as HTMLButtonElement, resendOut, () => resend(g.group)),
        }, 'Resend to this group'),
      },
    ], d.groups)
    : empty(d.state === 'STORED' ? 'No group subscribes to this topic yet, so no one has consumed it.' : `The message is ${d.state.toLowerCase()}: groups see it once it is stored in its queue.`,
      'Groups appear here once a consumer receives from the topic.'));

  const resend = async (group: string) => {
    const r = await post<{ messageId: string; group: string }>(`/v1/topics/${seg(topic)}/messages/${seg(id)}/resend`, { group });
    void loadTrace();
    return alert('ok', `Resent a copy to group ${r.group} only, as `, link(messageHref(topic, r.messageId), h('code', null, r.messageId)), '.');
  };
  const loadTrace = async () => {
    try {
      const t = await get<{ events: TraceEvent[] }>(`/v1/topics/${seg(topic)}/messages/${seg(id)}/trace`);
      if (ctx.alive()) fill(traceBox, timeline(t.events, m));
    } catch (e) { if (ctx.alive()) fill(traceBox, errorBox(e)); }
  };

  const groupIn = h('input', { name: 'group', required: true, list: 'resend-groups', placeholder: 'consumer group', pattern: '[A-Za-z0-9_\\-]{1,120}' });
  const resendBtn = h('button', { type: 'submit' }, 'Resend');
  const resendForm = h('form', { class: 'form inline', 'data-testid': 'resend' },
    h('datalist', { id: 'resend-groups' }, groupsList.map((g) => h('option', { value: g }))),
    field('Group', groupIn), h('div', { class: 'actions' }, resendBtn));
  resendForm.addEventListener('submit', (ev) => { ev.preventDefault(); void run(resendBtn, resendOut, () => resend(groupIn.value.trim())); });

  const dl = (pairs: [string, unknown][]) => h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('dt', null, k), h('dd', null, v instanceof Node || Array.isArray(v) ? v as Node : String(v))]));

  add(ctx.root, 
    h('div', { class: 'title-row' }, h('h1', null, 'Message'), badge(m.state, m.state)),
    h('p', { class: 'crumbs' }, link(`#/topics/${seg(topic)}`, `← ${topic}`), ' · ', link(`#/messages${qs({ topic, by: 'time' })}`, 'Browse this topic')),
    h('div', { class: 'grid-2' },
      panel('Details', dl([
        ['Message ID', h('code', { 'data-testid': 'message-id' }, m.messageId)],
        ['Topic', link(`#/topics/${seg(m.topic)}`, m.topic)],
        ['Queue', m.queueId],
        ['Offset', m.queueOffset === null ? 'not in the queue yet' : num(m.queueOffset)],
        ['Tag', m.tag],
        ['Keys', m.keys?.length ? m.keys.map((k, i) => [i ? ', ' : '', link(`#/messages${qs({ topic, by: 'key', key: k })}`, k)]) : undefined],
        ['Message group', m.messageGroup],
        ['Born', time(m.bornTimestamp)],
        ['Stored', time(m.storeTimestamp)],
        ['Deliver at', m.deliverAt ? time(m.deliverAt) : undefined],
        ['Origin', origin ? link(messageHref(origin.topic, origin.id), `${origin.topic} / ${origin.id}`) : undefined],
      ]),
      m.properties && Object.keys(m.properties).length ? [h('h3', null, 'Properties'), dl(Object.entries(m.properties))] : null),
      panel(['Body ', h('span', { class: 'muted small' }, note ?? m.encoding)], h('pre', { class: 'body', 'data-testid': 'body' }, text))),
    panel('Status in each group', statusBox, h('h3', null, 'Resend to a group'),
      h('p', { class: 'muted' }, 'Delivers a copy of this message again, to that group only (other groups do not see it).'), resendForm, resendOut),
    h('section', { class: 'panel', id: 'trace' },
      h('div', { class: 'panel-head' }, h('h2', null, 'Trace'), h('button', { type: 'button', class: 'small', onclick: () => void loadTrace() }, 'Refresh')),
      traceBox),
  );
  renderStatus(m);
  await loadTrace();
  if (ctx.query.get('trace')) document.getElementById('trace')?.scrollIntoView();
  ctx.every(5000, async () => {
    const d = await get<MessageDetail>(`/v1/topics/${seg(topic)}/messages/${seg(id)}`);
    if (ctx.alive()) renderStatus(d);
  });
}

const EVENT_TEXT: Record<string, (e: TraceEvent) => string> = {
  PUBLISHED: () => 'Stored in its queue',
  SCHEDULED: (e) => `Scheduled${e.deliverAt ? ` for ${time(e.deliverAt as number)}` : ''}`,
  COMMITTED: () => 'Transaction committed',
  ROLLED_BACK: () => 'Transaction rolled back',
  CHECKED: (e) => `Transaction check ${e.checkTimes ?? ''}${e.answer ? `: ${e.answer}` : ''}`,
  DELIVERED: (e) => `Delivered to ${e.group}${e.consumerId ? ` (consumer ${e.consumerId})` : ''}, attempt ${e.deliveryAttempt ?? 1}`,
  ACKED: (e) => `Acknowledged by ${e.group}`,
  NACKED: (e) => `Failed (nack) in ${e.group}, attempt ${e.deliveryAttempt ?? '?'}${e.next === 'DEAD_LETTER' ? ': no retries left' : ': will be retried'}`,
  EXPIRED: (e) => `Invisibility ran out in ${e.group}, attempt ${e.deliveryAttempt ?? '?'}${e.next === 'DEAD_LETTER' ? ': no retries left' : ': will be retried'}`,
  DEAD_LETTERED: (e) => `Dead-lettered for ${e.group} (to %DLQ%${e.group})`,
  RECALLED: () => 'Recalled before it was due',
  RESENT: (e) => `Resent to ${e.group}${e.topic ? ` on ${e.topic}` : ''}`,
};
const SHOWN = new Set(['type', 'at', 'group', 'consumerId', 'deliveryAttempt', 'next', 'deliverAt', 'checkTimes', 'answer', 'topic', 'messageId', 'dlqMessageId']);

function timeline(events: TraceEvent[], m: Message): HTMLElement {
  if (!events.length) return empty('No trace events.', 'Trace may be off for this topic: turn it on in the topic\'s settings; it applies to new messages.');
  const t0 = events[0].at;
  return h('ol', { class: 'timeline', 'data-testid': 'timeline' }, events.map((e) => {
    const extra = Object.entries(e).filter(([k]) => !SHOWN.has(k));
    const idLink = e.type === 'RESENT' && typeof e.messageId === 'string' ? link(messageHref((e.topic as string | undefined) ?? m.topic, e.messageId), h('code', null, e.messageId))
      : e.type === 'DEAD_LETTERED' && typeof e.dlqMessageId === 'string' ? link(messageHref(`%DLQ%${e.group}`, e.dlqMessageId), h('code', null, e.dlqMessageId))
        : null;
    return h('li', { class: `ev ev-${e.type}` },
      h('span', { class: 'ev-dot' }),
      h('div', { class: 'ev-body' },
        h('div', { class: 'ev-head' }, h('strong', { class: 'ev-type' }, e.type), h('span', { class: 'ev-time', title: new Date(e.at).toISOString() }, time(e.at)),
          e.at > t0 ? h('span', { class: 'muted small' }, `+${duration(e.at - t0)}`) : null),
        h('div', null, (EVENT_TEXT[e.type] ?? (() => ''))(e), idLink ? [' → ', idLink] : null),
        extra.length ? h('div', { class: 'muted small' }, extra.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ')) : null));
  }));
}
