/** Pull consumption: receive (with long polling), ack, nack, change-invisibility. */
import type { Env } from '../env';
import { ApiError, isFailure, unwrap, type Failure } from '../model/errors';
import { compileFilter, filterKey, type FilterSpec } from '../model/filter';
import { decodeReceiptHandle } from '../model/ids';
import { Ack, AckResult, ChangeInvisibility, Nack, Receive, type GroupConfig } from '../model/schemas';
import type { AckStatus, ConsumerRef, HandleRef } from '../objects/Broker';
import { broker, type TopicRoute } from '../objects/names';
import { findGroup, forgetTopic, groupFor, subscribe, topicOr404 } from '../worker/catalog-cache';
import { groupParam, readJson, topicParam } from '../worker/validate';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { access, type AuthEnv } from '../worker/auth';
import { define, type App } from './define';

const PARAMS = { topic: 'topic name', group: 'consumer group name' };
let rotate = 0;

/** The group's state key: the group, or one per consumer when broadcasting. */
export function consumerRef(group: GroupConfig, consumerId: string | undefined | null): ConsumerRef {
  if (group.mode === 'BROADCASTING') {
    if (!consumerId) throw new ApiError('BAD_REQUEST', `consumerId is required: group "${group.name}" is BROADCASTING, and each consumer keeps its own offsets`);
    return { group, key: `${group.name}\u001f${consumerId}`, consumerId };
  }
  return { group, key: group.name, consumerId: consumerId ?? null };
}

async function target(c: Context<AuthEnv>) {
  const topic = await topicOr404(c.env, topicParam(c, { system: true }));
  const group = await groupFor(c.env, groupParam(c));
  return { topic, group };
}

/** Unwraps a broker's answer; a broker of a deleted topic makes the cached route go. */
function rpc<T>(t: TopicRoute, r: T): Exclude<T, Failure> {
  if (isFailure(r) && r.failure.code === 'TOPIC_NOT_FOUND') forgetTopic(t.name);
  return unwrap(r);
}

/** Resolves true when the first of the promises does, false when all resolve false; a failure (overload) rejects. */
function firstTrue(ps: Promise<boolean>[]): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let left = ps.length;
    for (const p of ps) p.then((v) => { if (v) resolve(true); else if (--left === 0) resolve(false); }, reject);
  });
}

type Handles = { parsed: (HandleRef & { queueId: number })[]; byQueue: Map<number, number[]>; status: AckStatus[] };

/** Decodes handles and groups them by queue; a handle of another topic or queue is INVALID. */
function sortHandles(t: TopicRoute, handles: string[]): Handles {
  const status: AckStatus[] = new Array(handles.length).fill('INVALID');
  const parsed: Handles['parsed'] = [];
  const byQueue = new Map<number, number[]>();
  handles.forEach((h, i) => {
    const d = decodeReceiptHandle(h);
    if (!d || d.incarnation !== t.incarnation || d.queueId >= t.queues) return;
    parsed[i] = { leaseId: d.leaseId, offset: d.offset, attempt: d.attempt, groupHash: d.groupHash, queueId: d.queueId };
    const l = byQueue.get(d.queueId) ?? [];
    l.push(i);
    byQueue.set(d.queueId, l);
  });
  return { parsed, byQueue, status };
}

async function settle(env: Env, t: TopicRoute, handles: string[],
  call: (queueId: number, refs: HandleRef[]) => Promise<{ results: AckStatus[] } | Failure>) {
  const s = sortHandles(t, handles);
  await Promise.all([...s.byQueue].map(async ([q, idx]) => {
    const r = rpc(t, await call(q, idx.map((i) => s.parsed[i])));
    idx.forEach((i, k) => { s.status[i] = r.results[k]; });
  }));
  return { results: handles.map((receiptHandle, i) => ({ receiptHandle, status: s.status[i] })) };
}

export function subscriptionRoutes(app: App) {
  define(app, 'post', '/v1/topics/{topic}/subscriptions/{group}/receive', {
    summary: 'Receive messages (long polling with waitMs)', tags: ['consume'], params: PARAMS, body: Receive,
    ok: { status: 200, schema: z.object({ messages: z.array(z.any()) }) }, errors: [404], access: access.consume,
  }, async (c) => {
    const body = await readJson(c, Receive);
    const spec: FilterSpec | null = body.filter ?? null;
    compileFilter(spec); // a bad expression is 400 INVALID_FILTER before anything is created or leased
    const { topic, group } = await target(c);
    const ref = consumerRef(group, body.consumerId);
    await subscribe(c.env, group.name, topic.name, spec === null ? null : filterKey(spec));
    const deadline = Date.now() + body.waitMs;
    const route = (q: number) => ({ topic, queueId: q });
    for (;;) {
      // each Broker answers its messages as the reply's JSON text (src/model/delivered.ts)
      const texts: string[] = [];
      let n = 0;
      const start = rotate++;
      for (let i = 0; i < topic.queues && n < body.maxMessages; i++) {
        const q = (start + i) % topic.queues;
        const r = rpc(topic, await broker(c.env, topic, q).receive(route(q), ref,
          { max: body.maxMessages - n, invisibleMs: body.invisibleMs, filter: spec }));
        if (r.n) { texts.push(r.text); n += r.n; }
      }
      const left = deadline - Date.now();
      if (n || left <= 0) return c.body(`{"messages":[${texts.join(',')}]}`, 200, { 'Content-Type': 'application/json' });
      // long poll: wait until some queue has something for the group, then lease it
      const ready = await firstTrue(Array.from({ length: topic.queues }, (_, q) =>
        broker(c.env, topic, q).waitAvailable(route(q), ref, left).then((r) => rpc(topic, r))));
      if (!ready) return c.json({ messages: [] });
    }
  });

  define(app, 'post', '/v1/topics/{topic}/subscriptions/{group}/ack', {
    summary: 'Acknowledge received messages', tags: ['consume'], params: PARAMS, body: Ack,
    ok: { status: 200, schema: AckResult }, errors: [404], access: access.consume,
  }, async (c) => {
    const body = await readJson(c, Ack);
    const { topic, group } = await target(c);
    return c.json(await settle(c.env, topic, body.receiptHandles,
      (q, refs) => broker(c.env, topic, q).ack({ topic, queueId: q }, group, refs)));
  });

  define(app, 'post', '/v1/topics/{topic}/subscriptions/{group}/nack', {
    summary: 'Fail received messages: redelivered after the backoff (or delayMs)', tags: ['consume'], params: PARAMS,
    body: Nack, ok: { status: 200, schema: AckResult }, errors: [404], access: access.consume,
  }, async (c) => {
    const body = await readJson(c, Nack);
    const { topic, group } = await target(c);
    return c.json(await settle(c.env, topic, body.receiptHandles,
      (q, refs) => broker(c.env, topic, q).nack({ topic, queueId: q }, group, refs, body.delayMs)));
  });

  define(app, 'post', '/v1/topics/{topic}/subscriptions/{group}/change-invisibility', {
    summary: 'Extend or shorten the invisibility of a received message; answers a new handle', tags: ['consume'],
    params: PARAMS, body: ChangeInvisibility, ok: { status: 200, schema: z.object({ receiptHandle: z.string() }) }, errors: [404],
    access: access.consume,
  }, async (c) => {
    const body = await readJson(c, ChangeInvisibility);
    const topic = await topicOr404(c.env, topicParam(c, { system: true }));
    const name = groupParam(c);
    const d = decodeReceiptHandle(body.receiptHandle);
    if (!d || d.incarnation !== topic.incarnation || d.queueId >= topic.queues) {
      throw new ApiError('INVALID_RECEIPT_HANDLE', 'receiptHandle is not a handle of this topic: use the one a receive answered');
    }
    // a group that does not exist holds no delivery: refused without creating it
    const group = await findGroup(c.env, name);
    if (!group) throw new ApiError('INVALID_RECEIPT_HANDLE', `the receipt handle is not one of group "${name}"`);
    const r = rpc(topic, await broker(c.env, topic, d.queueId).changeInvisibility({ topic, queueId: d.queueId }, group,
      { leaseId: d.leaseId, offset: d.offset, attempt: d.attempt, groupHash: d.groupHash }, body.invisibleMs));
    return c.json(r);
  });
}
