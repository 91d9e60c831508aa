/**
 * Hostile input, property-based (fast-check), against the real Worker and objects.
 *
 * The endpoints come from GET /v1/openapi.json, so a new route is fuzzed as soon as it is
 * declared. Every request is built to be wrong somewhere: malformed JSON, wrong types, huge and
 * odd numbers, unicode, deep nesting, oversized strings, unknown fields, bad names (with %, path
 * tricks, control characters), odd headers and query strings. The properties:
 *   - never a 5xx; a 4xx is exactly `{"error": {"code": "UPPER_SNAKE", "message": "..."}}` as JSON;
 *     a 2xx (the random input happened to be valid) is one the route documents;
 *   - a rejected request (and any GET) changes nothing stored: the topics and their queue
 *     offsets, the fixture topic's messages and pending ones, the groups and the fixture group's
 *     position, and the tokens are all the same before and after.
 * The same holds for credentials (with an ADMIN_TOKEN: 401 for no or a bad token, 403 for a
 * valid one without the permission) and for every WebSocket frame a client can send.
 *
 * Requests go to the Worker's fetch handler (`app.fetch` with the pool's real `env`: the same
 * bindings, objects and code path as SELF.fetch). SELF.fetch itself gets slower with every call
 * made in a workerd instance (cloudflare/workers-sdk#15446: ~4 ms at first, ~100 ms after 600
 * calls here), which would make a few thousand fuzz requests take minutes and slow down every
 * test file that runs after this one; the handler called directly stays flat.
 *
 * A failure prints fast-check's seed and the shrunk request; set SEED below to replay it.
 */
import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import app from '../../src/index';
import { LIMITS } from '../../src/model/limits';
import type { Env } from '../../src/env';
import { closeSocket, uniq } from './helpers';

const BASE = 'https://edgemq.test';
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
/** How many random requests each property sends (the whole file stays well under a minute). */
const RUNS = 150;
/** Requests per route in the every-endpoint property (about 30 routes). */
const PER_ROUTE = 16;
const SEED: number | undefined = undefined;
/** fast-check's report, with long runs of one character (padding, deep nesting) cut short. */
function report(details: fc.RunDetails<Json>): void {
  if (!details.failed) return;
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const msg = `${cause}\n\n${fc.defaultReportMessage(details) ?? 'property failed'}`;
  throw new Error(msg.replace(/(.)\1{100,}/gsu, (m, c: string) => `${c.repeat(10)}…(${[...m].length} times)`).slice(0, 20_000));
}
const fcOpts = (numRuns: number) => ({ numRuns, ...(SEED !== undefined ? { seed: SEED } : {}), endOnFailure: true, reporter: report });

/** One request to the Worker, as deployed with `vars` (e.g. an ADMIN_TOKEN) over the pool's bindings. */
async function send(url: string, init_: RequestInit = {}, vars: Partial<Env> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(url, init_), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

// ---- the route table -------------------------------------------------------------------------

interface Op {
  method: string; template: string; params: string[]; query: string[]; hasBody: boolean; ok: number[]; re: RegExp;
}

async function routeTable(): Promise<Op[]> {
  const res = await send(`${BASE}/v1/openapi.json`);
  expect(res.status).toBe(200);
  const doc = await res.json() as Json;
  const ops: Op[] = [];
  for (const [template, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const params = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const query = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'query').map((p) => p.name as string);
      const ok = Object.keys(op.responses ?? {}).map(Number).filter((s) => s >= 200 && s < 300);
      // PUT /v1/groups/{group} documents 200 and says "201 when created"
      if (method === 'put') ok.push(201);
      const re = new RegExp(`^${template.split(/\{\w+\}/).map((s) => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('[^/]+')}$`);
      ops.push({ method: method.toUpperCase(), template, params, query, hasBody: !!op.requestBody, ok, re });
    }
  }
  return ops;
}

/** The routes (method and template) a request path really lands on, after URL normalization. */
function matching(ops: Op[], method: string, pathname: string): Op[] {
  return ops.filter((o) => o.method === method && o.re.test(pathname));
}

// ---- fixture and snapshot ----------------------------------------------------------------------

interface Fixture {
  topic: string; group: string; token: string; tokenSecret: string;
  messageIds: string[]; pendingId: string; txId: string; handles: string[];
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await send(`${BASE}${path}`, {
    method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function must(method: string, path: string, body?: unknown): Promise<Json> {
  const r = await call(method, path, body);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBeLessThan(300);
  return r.json;
}

/** A topic with stored, scheduled and half messages, a group holding two leases, and a token. */
async function fixture(): Promise<Fixture> {
  const topic = uniq('fz');
  const group = uniq('fzg');
  await must('POST', '/v1/topics', { name: topic, queues: 2 });
  await must('PUT', `/v1/groups/${group}`, { invisibleMs: LIMITS.invisibleMsMax });
  const produced = await must('POST', `/v1/topics/${topic}/messages`, {
    messages: [
      { body: 'plain', tag: 'a', keys: ['k1'] }, { body: { n: 1 }, properties: { p: 'v' } }, { body: 'AAEC', encoding: 'base64' },
      { body: 'fifo', messageGroup: 'mg' }, { body: 'dedup', dedupId: 'd-1' }, { body: [1, 2, 3] },
    ],
  });
  const [pending] = (await must('POST', `/v1/topics/${topic}/messages`, { body: 'later', delayMs: 86_400_000 })).messages;
  const tx = await must('POST', `/v1/topics/${topic}/transactions`, { messages: [{ body: 'half' }], timeoutMs: 3_600_000 });
  const leased = await must('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, { maxMessages: 2 });
  expect(leased.messages).toHaveLength(2);
  const token = uniq('fz-token');
  const created = await must('POST', '/v1/tokens', { name: token, permissions: [{ resource: `topic:${uniq('other')}`, actions: ['PUB'] }] });
  return {
    topic, group, token, tokenSecret: created.token,
    messageIds: produced.messages.map((m: Json) => m.messageId), pendingId: pending.messageId, txId: tx.transactionId,
    handles: leased.messages.map((m: Json) => m.receiptHandle),
  };
}

/** Everything a rejected request must leave alone, read through the API. */
async function snapshot(f: Fixture) {
  const topics = (await must('GET', '/v1/topics')).topics.sort((a: Json, b: Json) => a.name.localeCompare(b.name));
  const details = [];
  for (const t of topics.slice(0, 25)) {
    const d = await call('GET', `/v1/topics/${encodeURIComponent(t.name)}`);
    details.push(d.status === 200 ? { ...d.json, queueStatus: d.json.queueStatus.map((q: Json) => [q.queueId, q.minOffset, q.maxOffset, q.messages]) } : d.status);
  }
  const messages = await call('GET', `/v1/topics/${f.topic}/messages?start=0&limit=1000`);
  const pending = await call('GET', `/v1/topics/${f.topic}/messages/${f.pendingId}`);
  const groups = (await must('GET', '/v1/groups')).groups.map((g: Json) => [g.name, g.mode, g.lag]).sort();
  const g = await call('GET', `/v1/groups/${f.group}`);
  const group = g.status === 200 ? { ...g.json, consumers: undefined } : g.status;
  const tokens = (await must('GET', '/v1/tokens')).tokens;
  return { topics, details, messages, pending, groups, group, tokens };
}

/** A snapshot once nothing moves any more (work a 2xx set off, e.g. a closed socket's leases going back). */
async function settled(f: Fixture, first?: Awaited<ReturnType<typeof snapshot>>) {
  let prev = first ?? await snapshot(f);
  for (let i = 0; i < 20; i++) {
    await new Promise((ok) => setTimeout(ok, 10));
    const next = await snapshot(f);
    if (JSON.stringify(next) === JSON.stringify(prev)) return next;
    prev = next;
  }
  throw new Error('the state kept changing after a request was answered');
}

// ---- generators --------------------------------------------------------------------------------

const BIG = 'x'.repeat(LIMITS.controlRequestBytesMax + 16);
const deep = (n: number, open: string, close: string, inner = '1') => open.repeat(n) + inner + close.repeat(n);

/** Names that must all be refused (or not found): % and path tricks, controls, sizes, unicode. */
const hostileName = fc.oneof(
  fc.constantFrom(
    '', ' ', '%', '%25', '%DLQ%x', '%25DLQ%25x', '%DLQ%', '..', '.', '../topics', '..%2F..%2Fgroups', 'a/b', 'a%2Fb',
    '%2e%2e', 'a b', 'x'.repeat(128), 'x'.repeat(121), 'y'.repeat(5000), '\u0000', 'a\u0000b', '\n', 'ü', '😀',
    '__proto__', 'constructor', 'prototype', 'null', 'a?b', 'a#b', '%E0%A4%A', '%ZZ', '%00', '%C0%AF', "'; DROP TABLE x; --",
    'a.b', 'A:B', '*', 'topic:*', '\uD800', '\u202Etxt', '%DLQ%../../x',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 30 }),
);
const validName = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
const hexId = fc.stringMatching(/^[0-9A-F]{8}[0-9A-F]{2}[012][0-9A-F]{13}$/);

/** JSON values meant to break a field: wrong types, odd numbers, odd strings, odd shapes. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null, true, false, 0, -1, -0, 0.5, 1.5, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_SAFE_INTEGER,
    Number.MIN_VALUE, '', ' ', '0', '1', 'NaN', 'Infinity', '-1', '1e400', 'true', '__proto__', '%DLQ%x', '../..', '\u0000',
    '\uD800', '😀'.repeat(200), 'z'.repeat(5000), [], {}, [[]], [null], { __proto__: { polluted: true } }, { constructor: { prototype: {} } },
    'FIRST', 'LAST', 'EARLIEST', 'CLUSTERING', 'ack', 'PUB', 'topic:*',
  ),
  fc.integer(), fc.double(), fc.bigInt().map((b) => Number(b)),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Valid request bodies to mutate, per route; anything else starts from {}. */
function seeds(op: Op, f: Fixture): Json[] {
  const k = `${op.method} ${op.template}`;
  const msg = { body: 'x', tag: 't', keys: ['k'], properties: { a: 'b' } };
  const table: Record<string, Json[]> = {
    'POST /v1/topics': [{ name: 'fz-new', queues: 1, type: 'NORMAL', retentionHours: 1, maxMessageBytes: 1024, dedupWindowMs: 0, trace: false }],
    'PATCH /v1/topics/{topic}': [{ retentionHours: 24, maxMessageBytes: 2048, dedupWindowMs: 1000, trace: true, queues: 2 }],
    'POST /v1/topics/{topic}/messages': [msg, { messages: [msg, { body: { a: 1 }, messageGroup: 'g', dedupId: 'd' }] }, { body: 'x', delayMs: 1000 }, { body: 'x', deliverAt: 1 }],
    'POST /v1/topics/{topic}/transactions': [{ messages: [msg], checkAfterMs: 1000, checkIntervalMs: 1000, maxChecks: 2, timeoutMs: 60_000 }],
    'PUT /v1/groups/{group}': [{ mode: 'CLUSTERING', consumeFrom: 'FIRST', maxRetries: 3, retryPolicy: { type: 'EXPONENTIAL', initialMs: 1, maxMs: 2, multiplier: 2 }, invisibleMs: 5000 }, { consumeFrom: { timestamp: 1 } }],
    'POST /v1/groups/{group}/reset-offset': [{ topic: f.topic, to: 'EARLIEST' }, { topic: f.topic, to: { queueId: 1, offset: 0 } }, { topic: f.topic, to: { timestamp: 0 } }],
    'POST /v1/topics/{topic}/subscriptions/{group}/receive': [{ maxMessages: 1, waitMs: 0, invisibleMs: 5000, filter: 'a || b', consumerId: 'c1' }, { filter: { sql: 'p = \'v\'' } }],
    'POST /v1/topics/{topic}/subscriptions/{group}/ack': [{ receiptHandles: f.handles }],
    'POST /v1/topics/{topic}/subscriptions/{group}/nack': [{ receiptHandles: f.handles, delayMs: 1000 }],
    'POST /v1/topics/{topic}/subscriptions/{group}/change-invisibility': [{ receiptHandle: f.handles[0], invisibleMs: 5000 }],
    'POST /v1/topics/{topic}/messages/{messageId}/resend': [{ group: f.group }],
    'POST /v1/groups/{group}/dlq/resend': [{ messageIds: f.messageIds.slice(0, 1) }],
    'POST /v1/tokens': [{ name: 'fz-t', permissions: [{ resource: 'topic:*', actions: ['PUB', 'SUB'] }] }],
  };
  return table[k] ?? [{}];
}

/** Wrong values that pass a type check and fail a rule: per field name, beside the generic ones. */
const BAD_FILTERS = ['a ||', '||', '|', 'a || || b', '(', 'a =', "p = 'x", 'NOT', 'a BETWEEN 1', 'IS NULL', 'a IN ()', 'x'.repeat(1025), '\u0000'];
const FIELD_FAULTS: Record<string, unknown[]> = {
  filter: [...BAD_FILTERS, { sql: '' }, { sql: 'a =' }, { sql: 'p = 1 AND' }, { sql: 'x'.repeat(4097) }, { sql: 'a = 1', extra: 1 }, { tag: 'a' }],
  sql: BAD_FILTERS,
  to: ['FIRST', 'latest', { queueId: 99, offset: 0 }, { queueId: 64, offset: 0 }, { queueId: 1.5, offset: 0 }, { queueId: 0, offset: -1 }, { queueId: 0 },
    { timestamp: -1 }, { timestamp: 1e300 }, { timestamp: 1, queueId: 0 }],
  topic: ['', '%DLQ%', '%DLQ%nope', 'no-such-topic-zz', 'a/b', 'x'.repeat(201), '%'],
  receiptHandle: ['', 'x', 'cjEuQUJDREVGMDEuMC4xLjEuMC4x', 'r1.ABCDEF01.0.1.1.0.1', 'A'.repeat(513), '%%%'],
  receiptHandles: [[], [''], ['x'], Array.from({ length: LIMITS.ackHandlesMax + 1 }, () => 'h'), ['A'.repeat(513)]],
  messageIds: [[], [''], ['nope'], ['x'.repeat(65)], Array.from({ length: 1001 }, () => 'x')],
  name: ['', 'a b', 'x'.repeat(65), 'a/b', '%', '..', 'fz-new'],
  permissions: [[], [{ resource: 'topic:a' }], [{ resource: 'queue:a', actions: ['PUB'] }], [{ resource: 'topic:a', actions: [] }],
    [{ resource: 'topic:a', actions: ['ROOT'] }], [{ resource: 'topic:%x', actions: ['PUB'] }], [{ resource: 'topic:a', actions: ['PUB', 'SUB', 'ADMIN', 'PUB'] }]],
  consumeFrom: ['NOW', 'first', { timestamp: -5 }, { timestamp: 'x' }, { offset: 0 }],
  retryPolicy: [{ type: 'LINEAR' }, { type: 'EXPONENTIAL', multiplier: 0 }, { type: 'EXPONENTIAL', initialMs: -1 }, { type: 'CUSTOMIZED', x: 1 }, 'CUSTOMIZED'],
  mode: ['clustering', 'BROADCAST', ''],
  group: ['', 'a b', '%DLQ%x', 'x'.repeat(121)],
  type: ['normal', 'QUEUE', ''],
  encoding: ['utf8', 'hex', 'BASE64'],
  body: [{ a: JSON.parse(deep(80, '[', ']')) }, 'not base64 !!'],
  tag: ['a|b', 't'.repeat(129), ''],
  keys: [[''], ['k'.repeat(129)], Array.from({ length: 33 }, (_, i) => `k${i}`), 'k'],
  properties: [{ '': 'v' }, { a: 1 }, Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`p${i}`, 'v'])), { a: 'v'.repeat(20_000) }, ['a']],
  messageGroup: ['', 'g'.repeat(65)],
  dedupId: ['', 'd'.repeat(129)],
  delayMs: [-1, 1e12, 366 * 86_400_000, 1.5],
  deliverAt: [-1, Date.now() + 400 * 86_400_000, 1.5, 8.64e15 + 1],
  checkUrl: ['ftp://x', 'javascript:alert(1)', 'http://', 'not a url', `https://${'h'.repeat(2048)}`],
  queues: [0, 65, 1.5, -1, 3],
  consumerId: ['', 'a b', 'x'.repeat(121), '%'],
  invisibleMs: [999, 43_200_001, 0],
  waitMs: [-1, 20_001, 1.5],
  maxMessages: [0, 257, 1.5],
  maxRetries: [-1, 33],
  retentionHours: [0, 8761],
  maxMessageBytes: [0, 4_194_305],
  dedupWindowMs: [-1, 7 * 86_400_000 + 1],
};

function faultFor(k: string): fc.Arbitrary<unknown> {
  const specific = Object.hasOwn(FIELD_FAULTS, k) ? FIELD_FAULTS[k] : undefined; // not "constructor" of Object.prototype
  return specific ? fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...specific) }, { weight: 1, arbitrary: hostileValue }) : hostileValue;
}

/** A seed with one field broken (with a value that breaks a rule of that field, or a type), dropped, added, or nested deep. */
function mutated(seed: Json, depth = 0): fc.Arbitrary<Json> {
  const keys = Object.keys(seed);
  const key = keys.length ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...keys) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }) : fc.string({ maxLength: 12 });
  const options: fc.WeightedArbitrary<Json>[] = [
    { weight: 6, arbitrary: key.chain((k) => faultFor(k).map((v) => ({ ...seed, [k]: v }))) },
    { weight: 1, arbitrary: fc.tuple(key, hostileValue, key, hostileValue).map(([k, v, k2, v2]) => ({ ...seed, [k]: v, [k2]: v2 })) },
    { weight: 1, arbitrary: key.map((k) => { const c = { ...seed }; delete c[k]; return c; }) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 20 }), hostileValue).map(([k, v]) => ({ ...seed, [`unknown_${k}`]: v })) },
    { weight: 1, arbitrary: fc.tuple(key, fc.integer({ min: 60, max: 400 })).map(([k, n]) => ({ ...seed, [k]: JSON.parse(deep(n, '[', ']')) })) },
    { weight: 1, arbitrary: fc.constant([seed]) },
    {
      weight: 1,
      arbitrary: fc.constant(seed.messages ? { messages: Array.from({ length: LIMITS.batchMessagesMax + 1 }, () => ({ body: 1 })) } : { ...seed, extra: 'y'.repeat(70_000) }),
    },
  ];
  // a batch: one of its messages broken
  if (Array.isArray(seed.messages) && seed.messages.length && depth === 0) {
    options.push({ weight: 6, arbitrary: fc.tuple(fc.nat(seed.messages.length - 1), fc.constant(null)).chain(([i]) =>
      mutated(seed.messages[i], 1).map((m) => ({ ...seed, messages: seed.messages.map((x: Json, j: number) => (j === i ? m : x)) }))) });
  }
  return fc.oneof(...options);
}

type Body = string | Uint8Array | undefined;

function bodyArb(op: Op, f: Fixture): fc.Arbitrary<Body> {
  const ss = seeds(op, f);
  const seed = fc.constantFrom(...ss);
  return fc.oneof(
    { weight: 12, arbitrary: seed.chain((x) => mutated(x)).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.tuple(seed, fc.nat()).map(([s, n]) => { const t = JSON.stringify(s); return t.slice(0, n % Math.max(t.length, 1)); }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '{', '}', '[', '"', 'nul', 'NaN', '-', '{"a":}', "{'a':1}", '{"a":1,}', '{"a":1}{"b":2}', '\uFEFF{}', '\u0000',
        '{"__proto__":{"polluted":1}}', '{"a":1e99999}', '{"a":-1e99999}', '123456789012345678901234567890', '{"a":"\\ud800"}',
        '{"a":"\\u0000"}', '[1,2,3', '{"messages":[]}', '{"messages":{}}', '{"body":}', 'true', 'null', '""',
      ),
    },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 200_000 }).map((n) => deep(n, '[', ']')) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 50_000 }).map((n) => deep(n, '{"a":', '}')) },
    { weight: 1, arbitrary: fc.integer({ min: 60, max: 20_000 }).map((n) => JSON.stringify({ ...ss[0], body: 'x' }).replace('"x"', deep(n, '[', ']'))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    { weight: 1, arbitrary: fc.constant(JSON.stringify({ ...ss[0], padding: BIG })) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const headerValue = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  fc.constantFrom('', '-1', '1e400', '99999999999999999', '1.5', 'NaN', ' 5', '0x10', 'a,b,,c,', ','.repeat(40), 'k'.repeat(200), 'Bearer x'),
);
const headersArb = fc.record({
  'Content-Type': fc.constantFrom(
    'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'APPLICATION/JSON',
    'application/problem+json', 'text/plain', 'text/plain; charset=latin1', 'application/octet-stream',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'image/png', 'garbage/', ';;;', '',
  ),
  'X-Tag': headerValue, 'X-Keys': headerValue, 'X-Delay-Ms': headerValue, 'X-Deliver-At': headerValue,
  'X-Dedup-Id': headerValue, 'X-Message-Group': headerValue, 'X-Prop-a': headerValue, 'X-Prop-': headerValue,
  'Content-Encoding': fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'nonsense'),
  Accept: fc.constantFrom('text/html', '*/*', 'application/xml'),
  Authorization: headerValue,
  Upgrade: fc.constantFrom('h2c', 'websocket2', ''),
}, { requiredKeys: [] });

const queryValue = fc.oneof(
  fc.constantFrom('', '-1', '0', '1', '64', '1001', '1e400', '1.5', 'NaN', 'Infinity', '0x10', ' 7', '9007199254740993',
    'q'.repeat(5000), 'null', '[]', '{}', '%', 'AAAA', 'eyJ4IjoxfQ', 'eyIwIjoxZTMwMH0', 'eyJfX3Byb3RvX18iOjF9', btoa('{"0":-5}'), 'FIRST'),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.integer().map(String),
);

function queryArb(op: Op, f: Fixture): fc.Arbitrary<[string, string][]> {
  const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...op.query, 'token', '__proto__', 'limit') }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) });
  const valueFor = (k: string): fc.Arbitrary<string> => {
    const specific: string[] = k === 'filter' || k === 'sql' ? BAD_FILTERS
      : k === 'topic' ? [f.topic, 'no-such-topic', '%DLQ%x'] : k === 'group' ? [f.group, 'no-such-group'] : k === 'consumerId' ? ['c1', 'a b', 'x'.repeat(121)]
        : k === 'maxInflight' ? ['0', '1025', '8'] : k === 'queueId' ? ['1', '2', '63', '64'] : [];
    return specific.length ? fc.oneof(fc.constantFrom(...specific), queryValue) : queryValue;
  };
  return fc.array(key.chain((k) => valueFor(k).map((v): [string, string] => [k, v])), { maxLength: 5 });
}

function paramArb(op: Op, name: string, f: Fixture): fc.Arbitrary<{ value: string; raw: boolean }> {
  // the fixture itself is not deleted or reshaped (its snapshot is the point); everything else goes
  const last = op.template.endsWith(`{${name}}`);
  const spare = (op.method === 'DELETE' || op.method === 'PATCH') && last;
  const real: string[] = name === 'topic' ? [f.topic] : name === 'group' ? [f.group] : name === 'name' ? [f.token]
    : name === 'messageId' ? [...f.messageIds, f.pendingId] : name === 'transactionId' ? [f.txId] : [];
  const choices: fc.WeightedArbitrary<string>[] = [{ weight: 3, arbitrary: hostileName }, { weight: 3, arbitrary: validName }, { weight: 1, arbitrary: hexId }];
  if (real.length && !spare) choices.push({ weight: 4, arbitrary: fc.constantFrom(...real) });
  return fc.record({ value: fc.oneof(...choices), raw: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) });
}

interface Req { op: Op; method: string; params: Record<string, { value: string; raw: boolean }>; query: [string, string][]; headers: Record<string, string>; body: Body }

function requestArb(ops: Op[], f: Fixture): fc.Arbitrary<Req> {
  return fc.constantFrom(...ops).chain((op) => fc.record({
    op: fc.constant(op),
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(op.method) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS') }),
    params: fc.record(Object.fromEntries(op.params.map((p) => [p, paramArb(op, p, f)]))),
    query: queryArb(op, f),
    headers: headersArb,
    body: bodyArb(op, f),
  }));
}

/** encodeURIComponent, for strings with lone surrogates too (as a browser would send them: U+FFFD). */
const enc = (s: string) => encodeURIComponent(s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD'));

function urlOf(r: Req): string {
  let path = r.op.template;
  for (const [k, { value, raw }] of Object.entries(r.params)) path = path.replace(`{${k}}`, raw ? value : enc(value));
  const qs = r.query.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  return `${BASE}${path}${qs ? `?${qs}` : ''}`;
}

/** Long polls stay short: a valid waitMs would hold the run for up to 20 s. */
function tame(body: Body): Body {
  if (typeof body !== 'string' || !body.includes('waitMs')) return body;
  try {
    const v = JSON.parse(body);
    if (v && typeof v === 'object' && typeof v.waitMs === 'number' && v.waitMs > 100) return JSON.stringify({ ...v, waitMs: 100 });
  } catch { /* not JSON: sent as is */ }
  return body;
}

function init(r: Req): RequestInit {
  const body = r.method === 'GET' ? undefined : tame(r.body);
  return { method: r.method, headers: r.headers, body };
}

/** A request that gets no answer is a failure too (and says which request it was). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(timer));
}

const describeReq = (r: Req, url: string) => `${r.method} ${url.slice(0, 300)} headers=${JSON.stringify(r.headers).slice(0, 300)} body=${
  typeof r.body === 'string' ? JSON.stringify(r.body.slice(0, 300)) : r.body ? `<${r.body.length} bytes>` : '-'}`;

/** The answer's shape: an API error for 4xx, a documented 2xx otherwise; never 5xx. */
async function checkAnswer(res: Response, ops: Op[], r: Req, url: string): Promise<'ok' | 'rejected'> {
  const text = await res.text();
  const what = `${describeReq(r, url)} -> ${res.status} ${text.slice(0, 400)}`;
  expect(res.status, what).toBeGreaterThanOrEqual(200);
  expect(res.status, what).toBeLessThan(500);
  expect(res.status >= 300 && res.status < 400, what).toBe(false);
  if (res.status >= 400) {
    expect(res.headers.get('Content-Type'), what).toMatch(/^application\/json/);
    const j = JSON.parse(text);
    expect(Object.keys(j), what).toEqual(['error']);
    expect(Object.keys(j.error).sort(), what).toEqual(['code', 'message']);
    expect(j.error.code, what).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
    expect(typeof j.error.message, what).toBe('string');
    expect(j.error.message.length, what).toBeGreaterThan(5);
    if (res.status === 429) expect(res.headers.get('Retry-After'), what).toMatch(/^\d+$/);
    return 'rejected';
  }
  const landed = matching(ops, r.method, new URL(url).pathname);
  expect(landed.length, `a 2xx from no documented route: ${what}`).toBeGreaterThan(0);
  expect(landed.flatMap((o) => o.ok), what).toContain(res.status);
  if (res.status !== 204) JSON.parse(text);
  return 'ok';
}

// ---- properties ------------------------------------------------------------------------------

describe('fuzz: every endpoint', () => {
  it('the route table covers the API', async () => {
    const ops = await routeTable();
    const names = ops.map((o) => `${o.method} ${o.template}`);
    for (const must_ of ['POST /v1/topics', 'POST /v1/topics/{topic}/messages', 'PUT /v1/groups/{group}', 'POST /v1/tokens',
      'POST /v1/topics/{topic}/subscriptions/{group}/receive', 'GET /v1/topics/{topic}/subscriptions/{group}/ws', 'GET /v1/stats']) {
      expect(names).toContain(must_);
    }
    expect(ops.length).toBeGreaterThanOrEqual(30);
  });

  it('answers hostile requests with a 4xx in the API shape (or a documented 2xx), never a 5xx; a rejected one changes nothing', async () => {
    const ops = (await routeTable()).filter((o) => !o.template.endsWith('/ws')); // the WebSocket has its own properties below
    const f = await fixture();
    let before = await snapshot(f);
    const seen = { ok: 0, rejected: 0 };
    // every route gets its share: one property per route, on one fixture
    for (const op of ops) {
      await fc.assert(fc.asyncProperty(requestArb([op], f), async (r) => {
        const url = urlOf(r);
        let res: Response;
        try { res = await within(send(url, init(r)), 10_000, describeReq(r, url)); } catch (e) {
          // the client itself refused to build it (e.g. a body on a GET): nothing to test
          if (e instanceof TypeError) return;
          throw e;
        }
        const outcome = await checkAnswer(res, ops, r, url);
        seen[outcome]++;
        const after = await snapshot(f);
        if (outcome === 'rejected' || r.method === 'GET') expect(after, `changed by ${describeReq(r, url)}`).toEqual(before);
        before = outcome === 'ok' ? await settled(f, after) : after;
      }), fcOpts(PER_ROUTE));
    }
    console.log(`fuzz: ${ops.length} routes, ${seen.rejected} requests rejected, ${seen.ok} accepted`);
    expect(seen.rejected).toBeGreaterThan(seen.ok);
  }, 120_000);

  it('answers hostile WebSocket upgrade requests (subscribe, produce) with 101 or a 4xx, and a refused one changes nothing', async () => {
    const ops = (await routeTable()).filter((o) => o.template.endsWith('/ws'));
    expect(ops.map((o) => o.template).sort()).toEqual(['/v1/topics/{topic}/messages/ws', '/v1/topics/{topic}/subscriptions/{group}/ws']);
    const f = await fixture();
    let before = await snapshot(f);
    let upgraded = 0;
    await fc.assert(fc.asyncProperty(fc.constantFrom(...ops).chain((op) => requestArb([op], f).map((r) => ({ op, r }))), async ({ op, r }) => {
      const url = urlOf(r);
      const res = await within(send(url, { method: 'GET', headers: { ...r.headers, Upgrade: 'websocket' } }), 10_000, describeReq(r, url));
      if (res.status === 101) {
        upgraded++;
        res.webSocket!.accept();
        await closeSocket(res.webSocket!, 1000, 'fuzz');
        before = await settled(f); // its leases go back
        return;
      }
      expect(await checkAnswer(res, [op], r, url)).toBe('rejected');
      const after = await snapshot(f);
      expect(after, `changed by ${describeReq(r, url)}`).toEqual(before);
    }), fcOpts(150));
    console.log(`fuzz: ${upgraded} WebSockets opened`);
  }, 60_000);

  it('refuses bodies over the limits before parsing them, with or without Content-Length', async () => {
    const f = await fixture();
    const before = await snapshot(f);
    const stream = (bytes: number) => new ReadableStream<Uint8Array>({
      start(c) { const chunk = new TextEncoder().encode('['.repeat(64 * 1024)); for (let n = 0; n < bytes; n += chunk.length) c.enqueue(chunk); c.close(); },
    });
    const cases: [string, string, BodyInit, number, string][] = [
      ['PUT', `/v1/groups/${f.group}`, JSON.stringify({ x: BIG }), 413, 'BAD_REQUEST'],
      ['POST', '/v1/tokens', stream(LIMITS.controlRequestBytesMax + 65536), 413, 'BAD_REQUEST'],
      ['POST', `/v1/topics/${f.topic}/messages`, 'y'.repeat(LIMITS.requestBytesMax + 1), 413, 'BATCH_TOO_LARGE'],
      ['POST', `/v1/topics/${f.topic}/messages`, stream(LIMITS.requestBytesMax + 65536), 413, 'BATCH_TOO_LARGE'],
      ['POST', `/v1/topics/${f.topic}/subscriptions/${f.group}/ack`, stream(LIMITS.controlRequestBytesMax + 65536), 413, 'BAD_REQUEST'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await send(`${BASE}${path}`, { method, body, headers: { 'Content-Type': 'application/json' } });
      const j = await res.json() as Json;
      expect([res.status, j.error?.code], `${method} ${path}`).toEqual([status, code]);
    }
    // a declared size over the limit is refused from the header alone: not a byte of the body is read
    for (const [path, limit, code] of [[`/v1/groups/${f.group}`, LIMITS.controlRequestBytesMax, 'BAD_REQUEST'],
      [`/v1/topics/${f.topic}/messages`, LIMITS.requestBytesMax, 'BATCH_TOO_LARGE']] as const) {
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(c) { pulled += 65_536; c.enqueue(new Uint8Array(65_536).fill(0x20)); },
      }, { highWaterMark: 0 });
      const res = await send(`${BASE}${path}`, {
        method: path.endsWith('messages') ? 'POST' : 'PUT', body: endless,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(limit + 1) },
      });
      expect([res.status, ((await res.json()) as Json).error.code]).toEqual([413, code]);
      expect(pulled, 'bytes of the body read').toBe(0);
    }
    expect(await snapshot(f)).toEqual(before);
  }, 60_000);
});

describe('fuzz: credentials', () => {
  const ADMIN = 'fuzz-admin-secret-0123456789';
  /** The Worker as deployed with an ADMIN_TOKEN (the pool runs it open, with ALLOW_ANONYMOUS). */
  const closed = (url: string, init_: RequestInit) => send(url, init_, { ADMIN_TOKEN: ADMIN });

  it('no token or a bad one is 401 everywhere; a valid one without the permission is 403; nothing changes', async () => {
    const ops = await routeTable();
    const f = await fixture();
    const before = await snapshot(f);
    const badToken = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), fc.constantFrom(ADMIN.slice(0, -1), `${ADMIN}x`, ADMIN.toUpperCase(), ` ${ADMIN}x`, 'emq_', `${f.tokenSecret}x`, 'a'.repeat(600), 'a'.repeat(5000)),
    );
    const how = fc.constantFrom('none', 'header', 'scheme', 'query', 'issued-header', 'issued-query');
    await fc.assert(fc.asyncProperty(requestArb(ops, f), how, badToken, async (r, mode, bad) => {
      const headers = { ...r.headers };
      delete headers.Authorization;
      // through the URL API: a raw name with "#" makes the rest of the path a fragment, and a
      // token appended to the string would land in it
      const u = new URL(urlOf(r));
      const tokenInQuery = u.searchParams.has('token'); // the first ?token= is the one that counts
      if (mode === 'header') headers.Authorization = `Bearer ${bad}`;
      if (mode === 'scheme') headers.Authorization = `${bad.slice(0, 10)} ${ADMIN}`;
      if (mode === 'query') u.searchParams.append('token', bad.replace(/[\uD800-\uDFFF]/g, '?'));
      if (mode === 'issued-header') headers.Authorization = `Bearer ${f.tokenSecret}`;
      if (mode === 'issued-query') u.searchParams.append('token', f.tokenSecret);
      const url = u.href;
      let res: Response;
      try { res = await closed(url, { ...init(r), headers }); } catch (e) { if (e instanceof TypeError) return; throw e; }
      const text = await res.text();
      const what = `${mode} ${describeReq(r, url)} -> ${res.status} ${text.slice(0, 300)}`;
      const issued = mode.startsWith('issued');
      // the issued token holds PUB on one other topic only: it gets past 401 and no further
      const landed = matching(ops, r.method, new URL(url).pathname);
      const shadowed = mode === 'issued-query' && tokenInQuery; // an earlier ?token= (a bad one) wins
      if (issued && !shadowed && landed.some((o) => o.template === '/v1/health') && res.status === 200) return; // any valid token
      expect(res.status, what).toBeGreaterThanOrEqual(400);
      expect(res.status, what).toBeLessThan(500);
      const j = JSON.parse(text);
      expect(Object.keys(j), what).toEqual(['error']);
      if (!issued) expect([res.status, j.error.code], what).toEqual([401, 'UNAUTHORIZED']);
      else if (!shadowed) {
        expect(res.status, what).not.toBe(401);
        // routes authorize before reading the body: only an oversized body (413) may answer first,
        // and POST /v1/topics, which needs the name from the body (so a bad body is 400 there)
        if (landed.length && !landed.some((o) => o.template === '/v1/topics' && o.method === 'POST') && res.status !== 413) {
          expect([res.status, j.error.code], what).toEqual([403, 'FORBIDDEN']);
        }
      }
    }), fcOpts(RUNS));
    expect(await snapshot(f)).toEqual(before);
    // and the real ones are let in (the property is not vacuous)
    expect((await closed(`${BASE}/v1/topics/${f.topic}`, { headers: { Authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    expect((await closed(`${BASE}/v1/health?token=${f.tokenSecret}`, {})).status).toBe(200);
  }, 120_000);
});

describe('fuzz: WebSocket frames', () => {
  /** Upgrades `url` (must answer 101) and collects the socket's JSON frames and its close code. */
  const openSocket = async (url: string) => {
    const res = await send(url, { headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const frames: Json[] = [];
    let closed: number | null = null;
    ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)));
    ws.addEventListener('close', (e) => { closed = e.code; });
    ws.accept();
    return { ws, frames, closed: () => closed };
  };
  /** Polls until `cond` holds (up to 2-3 s) and fails with `what` if it never does. */
  const waitFor = async (cond: () => boolean, what: string, tries = 200) => {
    for (let i = 0; i < tries && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond(), what).toBe(true);
  };

  it('answers every bad frame with an error frame, keeps the socket open, and changes nothing', async () => {
    const f = await fixture();
    const { ws, frames, closed } = await openSocket(`${BASE}/v1/topics/${f.topic}/subscriptions/${uniq('ws')}/ws?consumerId=fz&maxInflight=8`);
    // the group's first delivery (its own leases) settles before the snapshot
    await waitFor(() => frames.some((x) => x.type === 'messages'), 'the first push');
    await new Promise((r) => setTimeout(r, 100));
    const pushed = frames.filter((x) => x.type === 'messages').flatMap((x) => x.messages);
    const before = await snapshot(f);

    const handle = fc.oneof(hostileName, fc.base64String({ maxLength: 80 }).map((s) => s.replace(/=/g, '')), fc.constantFrom(...f.handles));
    const frame: fc.Arbitrary<string | Uint8Array> = fc.oneof(
      fc.record({ type: fc.constantFrom('ack', 'nack'), receiptHandles: fc.array(handle, { minLength: 1, maxLength: 5 }) }).map((v) => JSON.stringify(v)),
      fc.record({ type: fc.constantFrom('ack', 'nack'), receiptHandles: fc.array(handle, { maxLength: 3 }), delayMs: hostileValue }).map((v) => JSON.stringify(v)),
      fc.constantFrom('ack', 'nack', 'credit', 'reclaim', 'returned', 'hungry', 'messages', 'error').chain((type) =>
        mutated({ type, receiptHandles: ['x'], n: 1 }).map((v) => JSON.stringify(v))),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('', '{', 'null', '[]', '{"type":"ack"}', '{"type":"credit","n":1e308}', '{"type":"ack","receiptHandles":[]}',
        JSON.stringify({ type: 'ack', receiptHandles: Array.from({ length: LIMITS.ackHandlesMax + 1 }, () => 'h') })),
      fc.integer({ min: 9, max: 100_000 }).map((n) => `{"type":"ack","receiptHandles":${deep(n, '[', ']', '"h"')}}`),
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc.constant(`{"type":"ack","receiptHandles":["${'h'.repeat(LIMITS.controlRequestBytesMax)}"]}`),
    );
    let sent = 0;
    await fc.assert(fc.asyncProperty(frame, async (data) => {
      const errors = frames.filter((x) => x.type === 'error').length;
      ws.send(data);
      sent++;
      await waitFor(() => frames.filter((x) => x.type === 'error').length > errors || closed() !== null, `an error frame for ${String(data).slice(0, 200)}`);
      expect(closed(), `closed after ${String(data).slice(0, 200)}`).toBeNull();
      const err = frames.filter((x) => x.type === 'error')[errors];
      expect(Object.keys(err).sort()).toEqual(['code', 'message', 'type']);
      expect(err.code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(err.message.length).toBeGreaterThan(5);
    }), fcOpts(RUNS));
    expect(frames.filter((x) => x.type === 'error').length).toBeGreaterThanOrEqual(sent);
    expect(await snapshot(f)).toEqual(before);

    // still a working subscription: the pushed messages ack, and new ones come
    ws.send(JSON.stringify({ type: 'ack', receiptHandles: pushed.map((m: Json) => m.receiptHandle) }));
    await must('POST', `/v1/topics/${f.topic}/messages`, { body: 'after the fuzz' });
    const errorsBefore = frames.filter((x) => x.type === 'error').length;
    await waitFor(() => frames.some((x) => x.type === 'messages' && x.messages.some((m: Json) => m.body === 'after the fuzz')), 'a push after the fuzz');
    expect(frames.filter((x) => x.type === 'error')).toHaveLength(errorsBefore); // the good ack was fine
    await closeSocket(ws);
  }, 120_000);

  it('produce channel: every frame gets one answer (an error, or sent for a valid send), the socket stays open, and only answered sends are stored', async () => {
    const topic = uniq('fzp');
    await must('POST', '/v1/topics', { name: topic, queues: 2, maxMessageBytes: 4096 });
    const stored = async () => ((await must('GET', `/v1/topics/${topic}`)).queueStatus as Json[]).reduce((n, q) => n + q.maxOffset, 0);
    const { ws, frames: answers, closed } = await openSocket(`${BASE}/v1/topics/${topic}/messages/ws`);
    const seed = { type: 'send', id: 1, messages: [{ body: 'x', tag: 't', keys: ['k'], properties: { p: 'v' } }] };
    const frame: fc.Arbitrary<string | Uint8Array> = fc.oneof(
      mutated(seed).map((v) => JSON.stringify(v)),
      mutated(seed.messages[0]).map((m) => JSON.stringify({ ...seed, messages: [m] })),
      fc.array(mutated(seed.messages[0]), { minLength: 1, maxLength: 4 }).map((ms) => JSON.stringify({ ...seed, messages: ms })),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.constantFrom('', '{', 'null', '[]', '{"type":"send"}', '{"type":"send","id":-1,"messages":[{"body":"x"}]}',
        '{"type":"send","id":"","messages":[{"body":"x"}]}', `{"type":"send","id":"${'i'.repeat(65)}","messages":[{"body":"x"}]}`),
      fc.integer({ min: 70, max: 100_000 }).map((n) => `{"type":"send","id":1,"messages":[{"body":${deep(n, '[', ']')}}]}`),
      fc.uint8Array({ minLength: 1, maxLength: 200 }),
      fc.constant(`{"type":"send","id":1,"messages":[{"body":"${'b'.repeat(LIMITS.wsFrameBytesMax)}"}]}`),
    );
    const before = await stored();
    let inLog = 0;
    await fc.assert(fc.asyncProperty(frame, async (data) => {
      const n = answers.length;
      ws.send(data);
      await waitFor(() => answers.length > n || closed() !== null, `an answer to ${String(data).slice(0, 200)}`, 300);
      expect(closed(), `closed after ${String(data).slice(0, 200)}`).toBeNull();
      expect(answers.length, `one answer to ${String(data).slice(0, 200)}`).toBe(n + 1);
      const a = answers[n];
      if (a.type === 'sent') {
        inLog += (a.messages as Json[]).filter((m) => m.queueOffset !== null && !m.duplicate).length;
      } else {
        expect(a.type).toBe('error');
        expect(a.code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
        expect(a.message.length).toBeGreaterThan(5);
      }
    }), fcOpts(RUNS));
    expect(await stored()).toBe(before + inLog); // a refused send stored nothing, an answered one all of it
    ws.send(JSON.stringify({ type: 'send', id: 'last', messages: [{ body: 'after the fuzz' }] }));
    await waitFor(() => answers.some((x) => x.id === 'last'), 'the answer to a good send after the fuzz', 300);
    expect(answers.find((x) => x.id === 'last')?.type).toBe('sent');
    await closeSocket(ws);
  }, 120_000);
});
