/** Dead-letter queues: list a group's dead letters, resend them to their origin topic for that group. */
import { z } from '@hono/zod-openapi';
import { ApiError, unwrap, type Failure } from '../model/errors';
import { decodeMessageId, IdKind } from '../model/ids';
import type { Outgoing, Rec } from '../model/message';
import { broker, dlqTopicName, type TopicRoute } from '../objects/names';
import { findTopic } from '../worker/catalog-cache';
import { access } from '../worker/auth';
import { check, groupParam, readJson } from '../worker/validate';
import { decodeCursor, encodeCursor } from './query';
import { define, type App } from './define';

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(64), cursor: z.string().max(4096).optional(), token: z.string().optional(),
}).strict();
const Resend = z.object({ messageIds: z.array(z.string().min(1).max(64)).min(1).max(1000).optional() }).strict().openapi('DlqResend');

type DlqMsg = Record<string, unknown> & { queueOffset: number; messageId: string; resent: unknown };
type DlqPage = { messages: DlqMsg[]; more: boolean } | Failure;
type DlqRec = { off: number; rec: Rec; messageId: string } | null;

export function dlqRoutes(app: App) {
  define(app, 'get', '/v1/groups/{group}/dlq', {
    summary: "A group's dead letters (topic %DLQ%{group}), with whether each was resent", tags: ['dlq'],
    params: { group: 'consumer group name' }, query: ListQuery,
    ok: { status: 200, schema: z.object({ messages: z.array(z.any()), cursor: z.string().optional() }) },
    access: access.group('ADMIN'),
  }, async (c) => {
    const group = groupParam(c);
    const q = check(ListQuery, c.req.query());
    const t = await findTopic(c.env, dlqTopicName(group));
    if (!t) return c.json({ messages: [] });
    const after = decodeCursor(q.cursor)['0'] ?? null;
    const r = unwrap(await broker(c.env, t, 0).dlqList({ topic: t, queueId: 0 }, after, q.limit) as unknown as DlqPage);
    const last = r.messages[r.messages.length - 1];
    return c.json({ messages: r.messages, ...(r.more && last ? { cursor: encodeCursor({ 0: last.queueOffset }) } : {}) });
  });

  define(app, 'post', '/v1/groups/{group}/dlq/resend', {
    summary: 'Resend dead letters (the given ones, or all not yet resent) to their origin topic, for this group only',
    tags: ['dlq'], params: { group: 'consumer group name' }, body: Resend,
    ok: { status: 200, schema: z.object({ resent: z.array(z.any()), failed: z.array(z.any()) }) }, errors: [404],
    access: access.group('ADMIN'),
  }, async (c) => {
    const group = groupParam(c);
    const body = await readJson(c, Resend);
    const t = await findTopic(c.env, dlqTopicName(group));
    if (!t) {
      // no dead letter was ever made for the group: nothing to resend
      return c.json({ resent: [], failed: (body.messageIds ?? []).map((messageId) => ({ messageId, reason: 'not a dead letter of this group' })) });
    }
    const dlq = broker(c.env, t, 0);
    const route = { topic: t, queueId: 0 };
    const failed: { messageId: string; reason: string }[] = [];
    let offs: number[];
    if (body.messageIds) {
      offs = [];
      for (const id of body.messageIds) {
        const d = decodeMessageId(id);
        if (!d || d.kind !== IdKind.Log || d.incarnation !== t.incarnation) failed.push({ messageId: id, reason: 'not a dead letter of this group' });
        else offs.push(d.seq);
      }
    } else {
      offs = [];
      let after: number | null = null;
      for (let pages = 0; pages < 10; pages++) { // at most 10,000 per call: call again for more
        const r: { messages: DlqMsg[]; more: boolean } = unwrap(await dlq.dlqList(route, after, 1000) as unknown as DlqPage);
        for (const m of r.messages) if (!m.resent) offs.push(m.queueOffset);
        if (!r.more || !r.messages.length) break;
        after = r.messages[r.messages.length - 1].queueOffset;
      }
    }
    const recs = unwrap(await dlq.dlqRecords(route, offs) as unknown as DlqRec[] | Failure);
    // group the copies by origin topic and queue: one produce per broker
    const batches = new Map<string, { t: TopicRoute; q: number; items: { off: number; dlqId: string; out: Outgoing }[] }>();
    for (let i = 0; i < offs.length; i++) {
      const r = recs[i];
      if (!r) { failed.push({ messageId: `offset ${offs[i]}`, reason: 'not found, or already resent' }); continue; }
      const origin = r.rec.p?.ORIGIN_TOPIC;
      const ot = origin ? await findTopic(c.env, origin) : null;
      if (!ot) { failed.push({ messageId: r.messageId, reason: `origin topic "${origin}" no longer exists` }); continue; }
      const oq = Number(r.rec.p?.ORIGIN_QUEUE_ID ?? 0);
      const q = Number.isInteger(oq) && oq < ot.queues ? oq : 0;
      const key = `${ot.name}\u0000${q}`;
      if (!batches.has(key)) batches.set(key, { t: ot, q, items: [] });
      const { i: _i, ...rec } = r.rec as Rec & { i?: string };
      batches.get(key)!.items.push({ off: r.off, dlqId: r.messageId, out: { rec: { ...rec, o: group }, size: rec.b.length } });
    }
    const resent: { messageId: string; topic: string; newMessageId: string }[] = [];
    for (const b of batches.values()) {
      for (let i = 0; i < b.items.length; i += 500) {
        const chunk = b.items.slice(i, i + 500);
        const r = unwrap(await broker(c.env, b.t, b.q).produce({ topic: b.t, queueId: b.q }, chunk.map((x) => x.out)));
        const done = chunk.map((x, k) => ({ off: x.off, messageId: r.messages[k].messageId, topic: b.t.name, group }));
        unwrap(await dlq.markResent(route, done));
        chunk.forEach((x, k) => resent.push({ messageId: x.dlqId, topic: b.t.name, newMessageId: r.messages[k].messageId }));
      }
    }
    return c.json({ resent, failed });
  });
}
