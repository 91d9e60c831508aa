/** Produce: one message, a batch, or a raw body with its attributes in headers. */
import type { Context } from 'hono';
import { z } from '@hono/zod-openapi';
import type { Env } from '../env';
import { access } from '../worker/auth';
import { ApiError } from '../model/errors';
import { IDEMPOTENCY_KEY } from '../model/frames';
import { LIMITS } from '../model/limits';
import { bodyOnly, MessageInput, ProduceBatch, ProduceResult } from '../model/schemas';
import { upgradeAtBroker } from '../worker/broker-upgrade';
import { topicOr404 } from '../worker/catalog-cache';
import { produceAnswer, produceTo } from '../worker/produce';
import { ProduceChannel } from '../worker/produce-channel';
import { check, parseJsonText, topicParam } from '../worker/validate';
import { define, type App } from './define';

const UTF8 = new TextEncoder();
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

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

/** The request's `Idempotency-Key` header, checked (absent: undefined). */
function idempotencyKey(c: Context): string | undefined {
  const key = c.req.header('Idempotency-Key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError('BAD_REQUEST', `the Idempotency-Key header must be 1-${LIMITS.idempotencyKeyChars} printable ASCII characters without spaces`);
  }
  return key;
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
    if (Array.isArray(arr) && arr.length > 0 && Object.keys(v).length === 1 && bodyOnly(arr)) return arr;
    return check(ProduceBatch, v).messages;
  }
  // one message `{"body": ...}`: what the schema makes of it is itself, as in a batch (bodyOnly)
  const one = [v];
  return bodyOnly(one) ? one : [check(MessageInput, v)];
}

export function messageRoutes(app: App) {
  define(app, 'post', '/v1/topics/{topic}/messages', {
    summary: 'Produce one message, a batch ({"messages": [...]}), or a raw body with X- headers',
    tags: ['messages'], params: { topic: 'topic name' },
    headers: z.object({
      'Idempotency-Key': z.string().regex(IDEMPOTENCY_KEY).optional().openapi({
        description: 'a repeat of the request with this key (within the topic\'s dedupWindowMs) stores nothing and answers the first results as duplicates (docs/api.md)',
      }),
    }),
    body: z.union([MessageInput, ProduceBatch]),
    altBody: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } },
    ok: { status: 201, schema: ProduceResult, description: 'every message is durably stored' },
    errors: [404, 413], access: access.topic('PUB'),
  }, async (c) => {
    const name = topicParam(c);
    const t = await topicOr404(c.env, name);
    const key = idempotencyKey(c);
    const now = Date.now();
    const inputs = await readMessages(c);
    const messages = await produceTo(c.env, t, inputs, now, key);
    // as bytes: a Response made from the text spent 3-4x as long in converting it (8 KB for 100 results)
    return c.body(UTF8.encode(produceAnswer(messages)) as Uint8Array<ArrayBuffer>, 201, { 'Content-Type': 'application/json; charset=utf-8' });
  });

  // registered before GET .../messages/{messageId} (src/routes/query.ts): "ws" is no message id
  define(app, 'get', '/v1/topics/{topic}/messages/ws', {
    summary: 'Produce over WebSocket (Upgrade: websocket): pipelined sends, each answered once durably stored',
    tags: ['messages'], params: { topic: 'topic name' }, query: z.object({ token: z.string().optional() }),
    ok: { status: 101, description: 'switching protocols; frames as in docs/api.md "Produce over WebSocket"' },
    errors: [404, 426], access: access.topic('PUB'),
  }, async (c) => {
    if ((c.req.header('Upgrade') ?? '').toLowerCase() !== 'websocket') {
      throw new ApiError('BAD_REQUEST', 'this endpoint is a WebSocket: connect with Upgrade: websocket (POST .../messages produces over HTTP)', 426);
    }
    const t = await topicOr404(c.env, topicParam(c));
    // a topic of one queue: the socket ends at that queue's Broker, which stores the sends itself
    // (no RPC per append, and an idle producer hibernates whole); else the Worker spreads them
    if (t.queues === 1) {
      const ws = await upgradeAtBroker(c.env, t, 0, { name: 'X-Edgemq-Produce', value: JSON.stringify(t) });
      return new Response(null, { status: 101, webSocket: ws });
    }
    const pair = new WebSocketPair();
    pair[1].accept();
    new ProduceChannel(c.env, pair[1], t).start();
    return new Response(null, { status: 101, webSocket: pair[0] });
  });
}
