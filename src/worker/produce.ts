/**
 * Produce, shared by the REST route and the WebSocket produce channel: size and type checks in
 * the Worker (nothing reaches a Broker that it would refuse), queue choice, and the one RPC per
 * target queue that stores a part durably.
 */
import type { Env } from '../env';
import { ApiError, isFailure } from '../model/errors';
import { hash32, logMessageIdEncoder } from '../model/ids';
import { LIMITS } from '../model/limits';
import { packRecords, prepare, type Outgoing } from '../model/message';
import type { MessageInput } from '../model/schemas';
import type { Broker, KeyRange, Produced } from '../objects/Broker';
import { broker, type TopicRoute } from '../objects/names';
import { forgetTopic } from './catalog-cache';

/** The messages of one request bound for one queue: their indexes in the request, prepared. */
export interface Part { idx: number[]; out: Outgoing[] }

let roundRobin = Math.floor(Math.random() * 1024);

/** Validates and sizes every message (throws the API's error for the first bad one). */
export function prepareAll(inputs: MessageInput[], t: TopicRoute, now: number): Outgoing[] {
  const single = inputs.length === 1;
  const prepared = inputs.map((m, i) => prepare(m, t, now, single ? '' : i));
  const total = prepared.reduce((n, p) => n + p.size, 0);
  if (total > LIMITS.batchBytesMax) {
    throw new ApiError('BATCH_TOO_LARGE', `the batch holds ${total} bytes of messages; the limit is ${LIMITS.batchBytesMax} (8 MiB) per request`);
  }
  return prepared;
}

/** A message group or dedupId always maps to the same queue; the rest of a batch stays together. */
function queueOf(m: MessageInput, t: TopicRoute, batchQueue: number): number {
  if (m.messageGroup !== undefined) return hash32(m.messageGroup) % t.queues;
  if (m.dedupId !== undefined) return hash32(m.dedupId) % (t.dedupQueues ?? t.queues);
  return batchQueue;
}

/**
 * Splits a request by target queue; messages without a group or dedupId go together, round-robin,
 * or, in a request with an idempotency key, to the queue the key hashes to (where a repeat finds it).
 */
export function splitByQueue(inputs: MessageInput[], prepared: Outgoing[], t: TopicRoute, key?: string): Map<number, Part> {
  const batchQueue = key !== undefined ? hash32(key) % (t.dedupQueues ?? t.queues) : roundRobin++ % t.queues;
  const byQueue = new Map<number, Part>();
  inputs.forEach((m, i) => {
    const q = queueOf(m, t, batchQueue);
    let e = byQueue.get(q);
    if (!e) byQueue.set(q, (e = { idx: [], out: [] }));
    e.idx.push(i); e.out.push(prepared[i]);
  });
  return byQueue;
}

/** What storeOn appends through: the queue's Broker by RPC, or (`via`) that Broker's own methods. */
export type Appender = Pick<Broker, 'produce' | 'producePacked'>;

/**
 * Appends to one queue in one transaction; resolves once durable, with one result per message.
 * Plain messages go packed (packRecords), and their ids follow from the first offset. Under an
 * idempotency key (`keys`: each over its run of `out`), a repeat stores nothing and answers the
 * first results (`duplicate`).
 */
export async function storeOn(env: Env, t: TopicRoute, q: number, out: Outgoing[], via?: Appender, keys?: KeyRange[]): Promise<Produced[]> {
  const route = { topic: t, queueId: q };
  const packed = packRecords(out);
  // `via`: the queue's own Broker storing for a socket it holds (ProduceChannel in the Broker), no RPC
  const to = via ?? broker(env, t, q);
  // messages stored one by one take one key for all (a produce channel sends such keyed sends alone)
  if (!packed && keys && keys.length > 1) throw new ApiError('INTERNAL', 'several idempotency keys for messages stored one by one');
  const r = packed ? await to.producePacked(route, packed, keys) : await to.produce(route, out, keys?.[0]?.key);
  if (isFailure(r)) {
    if (r.failure.code === 'TOPIC_NOT_FOUND') forgetTopic(t.name);
    throw new ApiError(r.failure.code, r.failure.message);
  }
  if ('messages' in r) return r.messages;
  return producedRun(t, q, r.base, out.length, r.duplicate);
}

/** The results of `n` messages stored in a run of offsets from `base` (their ids follow from them). */
export function producedRun(t: TopicRoute, q: number, base: number, n: number, duplicate?: true): Produced[] {
  const id = logMessageIdEncoder(t.incarnation, q);
  return Array.from({ length: n }, (_, k) => (duplicate ? { messageId: id(base + k), queueId: q, queueOffset: base + k, duplicate }
    : { messageId: id(base + k), queueId: q, queueOffset: base + k }));
}

/**
 * The REST produce's answer, `{"messages":[...]}`, written out as text: JSON.stringify of a batch's
 * 100 result objects took several times as long. Nothing in it needs escaping: message ids are hex
 * (made by logMessageIdEncoder, or by a Broker), the rest numbers.
 */
export function produceAnswer(ms: Produced[]): string {
  let s = '{"messages":[';
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i];
    s += `${i ? ',' : ''}{"messageId":"${m.messageId}","queueId":${m.queueId},"queueOffset":${m.queueOffset}${m.duplicate ? ',"duplicate":true' : ''}}`;
  }
  return `${s}]}`;
}

/** The REST produce: every part stored concurrently; results in request order. */
export async function produceTo(env: Env, t: TopicRoute, inputs: MessageInput[], now: number, key?: string): Promise<Produced[]> {
  const prepared = prepareAll(inputs, t, now);
  const results: Produced[] = new Array(inputs.length);
  await Promise.all([...splitByQueue(inputs, prepared, t, key)].map(async ([q, e]) => {
    const r = await storeOn(env, t, q, e.out, undefined, key === undefined ? undefined : [{ key, n: e.out.length }]);
    e.idx.forEach((i, k) => { results[i] = r[k]; });
  }));
  return results;
}
