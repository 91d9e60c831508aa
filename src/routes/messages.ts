/** Produce: one message, a batch, or a raw body with its attributes in headers. */
import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import type { Env } from '../env';
import { access } from '../worker/auth';
import { ApiError, isFailure } from '../model/errors';
import { hash32 } from '../model/ids';
import { LIMITS } from '../model/limits';
import { prepare, type Outgoing } from '../model/message';
import { MessageInput, ProduceBatch, ProduceResult, type TopicConfig } from '../model/schemas';
import type { Produced } from '../objects/Broker';
import { broker, type TopicRoute } from '../objects/names';
import { forgetTopic, topicOr404 } from '../worker/catalog-cache';
import { check, parseJsonText, topicParam } from '../worker/validate';
import { define, type App } from './define';

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;
let roundRobin = Math.floor(Math.random() * 1024);

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A non-JSON body is one message: the raw bytes, with attributes from X- headers. */
async function rawMessage(c: Context): Promise<MessageInput> {
  const type = (c.req.header('Content-Type') ?? '').split(';')[0].trim().toLowerCase();
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const h = (n: string) => c.req.header(n) ?? undefined;
  const int = (n: string) => {
    const v = h(n);
    if (v === undefined) return undefined;
    if (!/^\d{1,16}$/.test(v.trim())) throw new ApiError('BAD_REQUEST', `header ${n} must be a whole number of milliseconds`);
    return Number(v.trim());
  };
  let body: string;
  let encoding: 'text' | 'base64' = 'base64';
  if (type.startsWith('text/')) {
    try { body = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes); encoding = 'text'; } catch { body = toBase64(bytes); }
  } else body = toBase64(bytes);
  const properties: Record<string, string> = {};
  for (const [k, v] of c.req.raw.headers) if (k.toLowerCase().startsWith('x-prop-') && k.length > 7) properties[k.slice(7)] = v;
  const m: Record<string, unknown> = { body, encoding };
  const keys = h('X-Keys');
  if (h('X-Tag') !== undefined) m.tag = h('X-Tag');
  if (keys !== undefined) m.keys = keys.split(',').map((k) => k.trim()).filter(Boolean);
  if (h('X-Message-Group') !== undefined) m.messageGroup = h('X-Message-Group');
  if (int('X-Delay-Ms') !== undefined) m.delayMs = int('X-Delay-Ms');
  if (int('X-Deliver-At') !== undefined) m.deliverAt = int('X-Deliver-At');
  if (h('X-Dedup-Id') !== undefined) m.dedupId = h('X-Dedup-Id');
  if (Object.keys(properties).length) m.properties = properties;
  return check(MessageInput, m);
}

async function readMessages(c: Context): Promise<MessageInput[]> {
  const type = (c.req.header('Content-Type') ?? '').split(';')[0].trim();
  if (!JSON_TYPE.test(type)) return [await rawMessage(c)];
  const v = parseJsonText(await c.req.text());
  if (v && typeof v === 'object' && !Array.isArray(v) && 'messages' in v && !('body' in v)) {
    const arr = (v as { messages: unknown }).messages;
    if (Array.isArray(arr) && arr.length > LIMITS.batchMessagesMax) {
      throw new ApiError('BATCH_TOO_LARGE', `the batch has ${arr.length} messages; the limit is ${LIMITS.batchMessagesMax} per request`);
    }
    return check(ProduceBatch, v).messages;
  }
  return [check(MessageInput, v)];
}

/** A message group or dedupId always maps to the same queue; the rest of a batch stays together. */
function queueOf(m: MessageInput, t: TopicRoute, batchQueue: number): number {
  if (m.messageGroup !== undefined) return hash32(m.messageGroup) % t.queues;
  if (m.dedupId !== undefined) return hash32(m.dedupId) % (t.dedupQueues ?? t.queues);
  return batchQueue;
}

export async function produceTo(env: Env, t: TopicRoute, inputs: MessageInput[], now: number): Promise<Produced[]> {
  const single = inputs.length === 1;
  const prepared = inputs.map((m, i) => prepare(m, t, now, single ? '' : `messages[${i}].`));
  const total = prepared.reduce((n, p) => n + p.size, 0);
  if (total > LIMITS.batchBytesMax) {
    throw new ApiError('BATCH_TOO_LARGE', `the batch holds ${total} bytes of messages; the limit is ${LIMITS.batchBytesMax} (8 MiB) per request`);
  }
  const batchQueue = roundRobin++ % t.queues;
  const byQueue = new Map<number, { idx: number[]; out: Outgoing[] }>();
  inputs.forEach((m, i) => {
    const q = queueOf(m, t, batchQueue);
    let e = byQueue.get(q);
    if (!e) byQueue.set(q, (e = { idx: [], out: [] }));
    e.idx.push(i); e.out.push(prepared[i]);
  });
  const results: Produced[] = new Array(inputs.length);
  await Promise.all([...byQueue].map(async ([q, e]) => {
    const r = await broker(env, t, q).produce({ topic: t, queueId: q }, e.out);
    if (isFailure(r)) {
      if (r.failure.code === 'TOPIC_NOT_FOUND') forgetTopic(t.name);
      throw new ApiError(r.failure.code, r.failure.message);
    }
    e.idx.forEach((i, k) => { results[i] = r.messages[k]; });
  }));
  return results;
}

export function messageRoutes(app: App) {
  define(app, 'post', '/v1/topics/{topic}/messages', {
    summary: 'Produce one message, a batch ({"messages": [...]}), or a raw body with X- headers',
    tags: ['messages'], params: { topic: 'topic name' },
    body: z.union([MessageInput, ProduceBatch]),
    altBody: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
    ok: { status: 201, schema: ProduceResult, description: 'every message is durably stored' },
    errors: [404, 413], access: access.topic('PUB'),
  }, async (c) => {
    const name = topicParam(c);
    const t = await topicOr404(c.env, name);
    const now = Date.now();
    const inputs = await readMessages(c);
    const messages = await produceTo(c.env, t, inputs, now);
    return c.json({ messages }, 201);
  });
}
