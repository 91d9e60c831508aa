/** Query and trace: by id, key, position or store time; message detail, trace, recall. */
import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import { ApiError, unwrap, type Failure } from '../model/errors';
import { decodeMessageId, IdKind, type MessageIdParts } from '../model/ids';
import { broker, nameServer, type TopicRoute } from '../objects/names';
import { topicOr404 } from '../worker/catalog-cache';
import { access, type AuthEnv } from '../worker/auth';
import { check, readJson, topicParam } from '../worker/validate';
import { GroupName } from '../model/schemas';
import { define, type App } from './define';

const PARAMS = { topic: 'topic name', messageId: 'as produce answered' };
const ResendToGroup = z.object({ group: GroupName }).strict().openapi('ResendToGroup');
const num = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const QueryParams = z.object({
  key: z.string().min(1).max(128).optional(),
  queueId: z.coerce.number().int().min(0).max(63).optional(),
  offset: num.optional(),
  start: num.optional(),
  end: num.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(64),
  cursor: z.string().max(4096).optional(),
  token: z.string().optional(),
}).strict();

/** A page position: the last offset returned per queue. */
type Cursor = Record<string, number>;
export const encodeCursor = (c: Cursor) => btoa(JSON.stringify(c)).replace(/=+$/, '');
export function decodeCursor(s: string | undefined): Cursor {
  if (!s) return {};
  try {
    const c = JSON.parse(atob(s)) as unknown;
    if (c && typeof c === 'object' && Object.values(c).every((v) => Number.isSafeInteger(v))) return c as Cursor;
  } catch { /* fall through */ }
  throw new ApiError('BAD_REQUEST', 'cursor is not one this server gave: pass the "cursor" of the previous page as it was');
}

async function locate(c: Context<AuthEnv>): Promise<{ t: TopicRoute; id: string; d: MessageIdParts }> {
  const t = await topicOr404(c.env, topicParam(c, { system: true }));
  const id = c.req.param('messageId') ?? '';
  const d = decodeMessageId(id);
  if (!d || d.kind === IdKind.Tx || d.incarnation !== t.incarnation || d.queueId >= t.queues) {
    throw new ApiError('MESSAGE_NOT_FOUND', `message "${id.slice(0, 64)}" does not exist in topic "${t.name}"`);
  }
  return { t, id, d };
}

type Msg = Record<string, unknown> & { queueId: number; queueOffset: number; storeTimestamp: number };

/**
 * Runs a query on the chosen queues, each from its cursor, and merges by store time: each queue
 * answers its first `limit` in log order, so the first `limit` overall is a prefix of each.
 */
export async function pagedQuery(c: Context<AuthEnv>, t: TopicRoute, queues: number[],
  q: { key: string } | { offset: number } | { start: number; end: number }, limit: number, cursor: Cursor) {
  const parts = await Promise.all(queues.map(async (qid) => {
    // message bodies are arbitrary JSON, which the RPC stub types cannot express: typed here
    const r = unwrap(await broker(c.env, t, qid).query({ topic: t, queueId: qid }, q, cursor[qid] ?? null, limit) as unknown as
      { messages: Msg[]; more: boolean } | Failure);
    return { qid, ...r };
  }));
  const all = parts.flatMap((p) => p.messages)
    .sort((a, b) => a.storeTimestamp - b.storeTimestamp || a.queueId - b.queueId || a.queueOffset - b.queueOffset);
  const page = all.slice(0, limit);
  const next: Cursor = { ...cursor };
  for (const m of page) next[m.queueId] = Math.max(next[m.queueId] ?? -1, m.queueOffset);
  const more = all.length > limit || parts.some((p) => p.more);
  return { messages: page, ...(more ? { cursor: encodeCursor(next) } : {}) };
}

export function queryRoutes(app: App) {
  define(app, 'get', '/v1/topics/{topic}/messages', {
    summary: 'Query messages by key, by queue position, or by store time (paged with cursor)', tags: ['query'],
    params: { topic: 'topic name' }, query: QueryParams,
    ok: { status: 200, schema: z.object({ messages: z.array(z.any()), cursor: z.string().optional() }) }, errors: [404],
    access: access.topic('ADMIN'),
  }, async (c) => {
    const p = check(QueryParams, c.req.query());
    const t = await topicOr404(c.env, topicParam(c, { system: true }));
    const cursor = decodeCursor(p.cursor);
    const all = Array.from({ length: t.queues }, (_, q) => q);
    if (p.key !== undefined) return c.json(await pagedQuery(c, t, all, { key: p.key }, p.limit, cursor));
    if (p.queueId !== undefined || p.offset !== undefined) {
      if (p.queueId === undefined) throw new ApiError('BAD_REQUEST', 'queueId is required with offset');
      if (p.queueId >= t.queues) throw new ApiError('BAD_REQUEST', `queueId ${p.queueId} does not exist: topic "${t.name}" has queues 0..${t.queues - 1}`);
      return c.json(await pagedQuery(c, t, [p.queueId], { offset: p.offset ?? 0 }, p.limit, cursor));
    }
    if (p.start !== undefined || p.end !== undefined) {
      const start = p.start ?? 0, end = p.end ?? Number.MAX_SAFE_INTEGER;
      if (end < start) throw new ApiError('BAD_REQUEST', 'end is before start');
      return c.json(await pagedQuery(c, t, all, { start, end }, p.limit, cursor));
    }
    throw new ApiError('BAD_REQUEST', 'say what to look for: ?key=, ?queueId=&offset=, or ?start=&end= (epoch ms); or GET .../messages/{messageId}');
  });

  define(app, 'get', '/v1/topics/{topic}/messages/{messageId}', {
    summary: 'A message by id, with its state and its status in every subscribed group', tags: ['query'], params: PARAMS,
    ok: { status: 200 }, errors: [404], access: access.topic('ADMIN'),
  }, async (c) => {
    const { t, id, d } = await locate(c);
    const b = broker(c.env, t, d.queueId);
    const route = { topic: t, queueId: d.queueId };
    const m = unwrap(await b.getMessage(route, d.kind === IdKind.Log ? { off: d.seq } : { seq: d.seq })) as Record<string, unknown> | null;
    if (!m) throw new ApiError('MESSAGE_NOT_FOUND', `message "${id}" does not exist in topic "${t.name}" (or retention deleted it)`);
    let groups: unknown[] = [];
    if (typeof m.queueOffset === 'number') {
      const subs = await nameServer(c.env).subscribers(t.name);
      groups = unwrap(await b.messageStatus(route, m.queueOffset, subs.map((s) => ({ name: s.group, mode: s.mode, filter: s.filter })))).groups;
    }
    return c.json({ ...m, groups });
  });

  define(app, 'get', '/v1/topics/{topic}/messages/{messageId}/trace', {
    summary: 'The trace of a message: every step of its life, oldest first', tags: ['query'], params: PARAMS,
    ok: { status: 200, schema: z.object({ events: z.array(z.object({ type: z.string(), at: z.number() }).passthrough()) }) },
    errors: [404], access: access.topic('ADMIN'),
  }, async (c) => {
    const { t, id, d } = await locate(c);
    const r = unwrap(await broker(c.env, t, d.queueId).traceOf({ topic: t, queueId: d.queueId }, d.kind === IdKind.Log ? { off: d.seq } : { seq: d.seq }));
    if (!r) throw new ApiError('MESSAGE_NOT_FOUND', `message "${id}" does not exist in topic "${t.name}"`);
    return c.json(r);
  });

  define(app, 'post', '/v1/topics/{topic}/messages/{messageId}/resend', {
    summary: 'Deliver a copy of a stored message again, to one consumer group only', tags: ['query'], params: PARAMS,
    body: ResendToGroup, ok: { status: 201, schema: z.object({ messageId: z.string(), group: z.string() }) }, errors: [404],
    access: access.topic('ADMIN'),
  }, async (c) => {
    const body = await readJson(c, ResendToGroup);
    const { t, id, d } = await locate(c);
    const b = broker(c.env, t, d.queueId);
    const route = { topic: t, queueId: d.queueId };
    let off = d.seq;
    if (d.kind === IdKind.Pending) {
      const m = unwrap(await b.getMessage(route, { seq: d.seq })) as { queueOffset?: number | null } | null;
      if (typeof m?.queueOffset !== 'number') throw new ApiError('CONFLICT', 'the message is not in the queue yet (scheduled or in a transaction)');
      off = m.queueOffset;
    }
    const r = unwrap(await b.resendTo(route, off, body.group));
    if (!r) throw new ApiError('MESSAGE_NOT_FOUND', `message "${id}" does not exist in topic "${t.name}"`);
    return c.json({ messageId: r.messageId, group: body.group }, 201);
  });

  define(app, 'delete', '/v1/topics/{topic}/messages/{messageId}', {
    summary: 'Recall a scheduled message that is not yet due', tags: ['messages'], params: PARAMS,
    ok: { status: 204, description: 'recalled: it will never be delivered' }, errors: [404, 409],
    access: access.topic('PUB'),
  }, async (c) => {
    const { t, d } = await locate(c);
    if (d.kind !== IdKind.Pending) throw new ApiError('CONFLICT', 'only a scheduled message that is not yet due can be recalled; this one is already stored in the queue');
    unwrap(await broker(c.env, t, d.queueId).recall({ topic: t, queueId: d.queueId }, d.seq));
    return c.body(null, 204);
  });
}
