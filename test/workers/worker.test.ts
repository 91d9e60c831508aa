/** The Worker over HTTP (SELF.fetch), with the real NameServer and Broker objects behind it. */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { decodeReceiptHandle } from '../../src/model/ids';
import { broker, nameServer } from '../../src/objects/names';
import { brokerSql, closeSocket, sleep, uniq } from './helpers';

const BASE = 'https://edgemq.test';
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
    }
  }
  const res = await SELF.fetch(`${BASE}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: (text ? JSON.parse(text) : null) as Json };
}

/** Asserts the API's error shape and returns the message. */
function expectError(r: { status: number; json: Json; headers: Headers }, status: number, code: string): string {
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  expect(r.headers.get('Content-Type')).toMatch(/^application\/json/);
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(r.json.error.code).toBe(code);
  expect(typeof r.json.error.message).toBe('string');
  expect(r.json.error.message.length).toBeGreaterThan(10);
  return r.json.error.message;
}

/** Creates a topic (its brokers' alarms run only when a test runs them: setup.ts). */
async function createTopic(body: Json) {
  const r = await call('POST', '/v1/topics', body);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json;
}

describe('system', () => {
  it('answers health', async () => {
    const r = await call('GET', '/v1/health');
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('ok');
    expect(Math.abs(r.json.time - Date.now())).toBeLessThan(60_000);
  });

  it('serves an OpenAPI 3.1 document of every public endpoint', async () => {
    const r = await call('GET', '/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toBe('3.1.0');
    const want: Record<string, string[]> = {
      '/v1/health': ['get'],
      '/v1/topics': ['get', 'post'],
      '/v1/topics/{topic}': ['delete', 'get', 'patch'],
      '/v1/topics/{topic}/messages': ['post'],
      '/v1/groups': ['get'],
      '/v1/groups/{group}': ['delete', 'get', 'put'],
      '/v1/groups/{group}/reset-offset': ['post'],
      '/v1/topics/{topic}/subscriptions/{group}/receive': ['post'],
      '/v1/topics/{topic}/subscriptions/{group}/ack': ['post'],
      '/v1/topics/{topic}/subscriptions/{group}/nack': ['post'],
      '/v1/topics/{topic}/subscriptions/{group}/change-invisibility': ['post'],
    };
    expect(r.json.paths['/v1/topics/{topic}/messages'].post.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: 'Idempotency-Key' }));
    for (const [path, methods] of Object.entries(want)) {
      expect(r.json.paths, path).toHaveProperty([path]);
      for (const m of methods) {
        const op = r.json.paths[path][m];
        expect(op, `${m.toUpperCase()} ${path}`).toBeDefined();
        expect(op.summary).toBeTruthy();
        expect(op.responses).toBeDefined();
      }
    }
    // and every documented operation is really routed (not the catch-all 404)
    for (const [path, ops] of Object.entries(r.json.paths as Json)) {
      for (const m of Object.keys(ops)) {
        const url = path.replace('{topic}', 'no-such-topic-zz').replace('{group}', 'g').replace('{transactionId}', 'x').replace('{messageId}', 'x').replace('{name}', 'x');
        const res = await call(m.toUpperCase(), url, m === 'get' || m === 'delete' ? undefined : {});
        expect(res.json?.error?.code, `${m.toUpperCase()} ${path}`).not.toBe('NOT_FOUND');
      }
    }
  });

  it('answers unknown routes with NOT_FOUND in the error shape', async () => {
    expectError(await call('GET', '/v1/nothing-here'), 404, 'NOT_FOUND');
  });
});

describe('round trip', () => {
  it('creates a topic and a group, produces, receives and acks', async () => {
    const topic = uniq('orders');
    const group = uniq('billing');
    const t = await createTopic({ name: topic, queues: 2 });
    expect(t).toMatchObject({ name: topic, queues: 2, type: 'MIXED', retentionHours: 72, maxMessageBytes: 1_048_576, dedupWindowMs: 600_000 });
    expect(t.incarnation).toBeUndefined();
    expectError(await call('POST', '/v1/topics', { name: topic }), 409, 'TOPIC_EXISTS');

    const g = await call('PUT', `/v1/groups/${group}`, { maxRetries: 3, invisibleMs: 60_000 });
    expect(g.status).toBe(201);
    expect(g.json).toMatchObject({ name: group, mode: 'CLUSTERING', consumeFrom: 'FIRST', maxRetries: 3, invisibleMs: 60_000, retryPolicy: { type: 'CUSTOMIZED' } });
    expect((await call('PUT', `/v1/groups/${group}`, { maxRetries: 4 })).status).toBe(200);

    const p = await call('POST', `/v1/topics/${topic}/messages`, {
      messages: [{ body: 'hello', tag: 'a', keys: ['k1'], properties: { x: '1' } }, { body: { n: 2 } }],
    });
    expect(p.status).toBe(201);
    expect(p.json.messages).toHaveLength(2);
    for (const m of p.json.messages) {
      expect(typeof m.messageId).toBe('string');
      expect([0, 1]).toContain(m.queueId);
      expect(m.queueOffset).toBeTypeOf('number');
    }
    const raw = await call('POST', `/v1/topics/${topic}/messages`, 'plain text', { 'Content-Type': 'text/plain', 'X-Tag': 'raw', 'X-Prop-Origin': 'curl' });
    expect(raw.status).toBe(201);
    const bin = await SELF.fetch(`${BASE}/v1/topics/${topic}/messages`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: new Uint8Array([0, 1, 255]) });
    expect(bin.status).toBe(201);
    const ids = [...p.json.messages.map((m: Json) => m.messageId), raw.json.messages[0].messageId, ((await bin.json()) as Json).messages[0].messageId];

    const detail = await call('GET', `/v1/topics/${topic}`);
    expect(detail.status).toBe(200);
    expect(detail.json.queueStatus.map((q: Json) => q.queueId)).toEqual([0, 1]);
    expect(detail.json.messages).toBe(4);

    const r = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, { maxMessages: 10 });
    expect(r.status).toBe(200);
    const got: Json[] = r.json.messages;
    expect(got.map((m) => m.messageId).sort()).toEqual([...ids].sort());
    const byId = new Map(got.map((m) => [m.messageId, m]));
    expect(byId.get(ids[0])).toMatchObject({ topic, body: 'hello', encoding: 'text', tag: 'a', keys: ['k1'], properties: { x: '1' }, deliveryAttempt: 1 });
    expect(byId.get(ids[1])).toMatchObject({ body: { n: 2 }, encoding: 'json' });
    // header names are case-insensitive: fetch hands them over lower-cased
    expect(byId.get(ids[2])).toMatchObject({ body: 'plain text', encoding: 'text', tag: 'raw', properties: { origin: 'curl' } });
    expect(byId.get(ids[3])).toMatchObject({ body: 'AAH/', encoding: 'base64' });
    for (const m of got) expect(decodeReceiptHandle(m.receiptHandle)).not.toBeNull();

    const inflight = await call('GET', `/v1/groups/${group}`);
    expect(inflight.status).toBe(200);
    expect(inflight.json.subscriptions).toEqual([{ topic, filter: null }]);
    expect(inflight.json.queues.reduce((n: number, q: Json) => n + q.inflight, 0)).toBe(4);

    const handles = got.map((m) => m.receiptHandle);
    const a = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/ack`, { receiptHandles: [...handles, 'not-a-handle'] });
    expect(a.status).toBe(200);
    expect(a.json.results.map((x: Json) => x.status)).toEqual(['OK', 'OK', 'OK', 'OK', 'INVALID']);
    expect(a.json.results[0].receiptHandle).toBe(handles[0]);
    const again = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/ack`, { receiptHandles: handles.slice(0, 1) });
    expect(again.json.results).toEqual([{ receiptHandle: handles[0], status: 'EXPIRED' }]);

    const empty = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, {});
    expect(empty.json).toEqual({ messages: [] });
    const done = await call('GET', `/v1/groups/${group}`);
    expect(done.json.lag).toBe(0);
    for (const q of done.json.queues) expect(q).toMatchObject({ topic, inflight: 0, retrying: 0, lag: 0 });
    const list = await call('GET', '/v1/topics');
    expect(list.json.topics.find((x: Json) => x.name === topic)).toEqual({ name: topic, queues: 2, type: 'MIXED', messages: 4, bytes: expect.any(Number) });
  });

  it('nacks, changes invisibility and long-polls', async () => {
    const topic = uniq('jobs');
    const group = uniq('workers');
    await createTopic({ name: topic, queues: 1 });
    const sub = `/v1/topics/${topic}/subscriptions/${group}`;

    // a long poll answers as soon as a message comes
    const t0 = Date.now();
    const polling = call('POST', `${sub}/receive`, { waitMs: 10_000 });
    await sleep(100);
    await call('POST', `/v1/topics/${topic}/messages`, { body: 'job-1' });
    const first = await polling;
    expect(first.json.messages.map((m: Json) => m.body)).toEqual(['job-1']);
    expect(Date.now() - t0).toBeLessThan(8000);

    const n = await call('POST', `${sub}/nack`, { receiptHandles: [first.json.messages[0].receiptHandle], delayMs: 0 });
    expect(n.json.results[0].status).toBe('OK');
    const second = await call('POST', `${sub}/receive`, {});
    expect(second.json.messages[0]).toMatchObject({ body: 'job-1', deliveryAttempt: 2 });

    const h = second.json.messages[0].receiptHandle;
    const ci = await call('POST', `${sub}/change-invisibility`, { receiptHandle: h, invisibleMs: 120_000 });
    expect(ci.status).toBe(200);
    expect(ci.json.receiptHandle).not.toBe(h);
    expectError(await call('POST', `${sub}/change-invisibility`, { receiptHandle: h, invisibleMs: 5000 }), 400, 'RECEIPT_HANDLE_EXPIRED');
    expectError(await call('POST', `${sub}/change-invisibility`, { receiptHandle: 'garbage', invisibleMs: 5000 }), 400, 'INVALID_RECEIPT_HANDLE');
    const a = await call('POST', `${sub}/ack`, { receiptHandles: [h, ci.json.receiptHandle] });
    expect(a.json.results.map((x: Json) => x.status)).toEqual(['EXPIRED', 'OK']);

    // a long poll with nothing to get answers empty after waitMs
    const t1 = Date.now();
    const none = await call('POST', `${sub}/receive`, { waitMs: 300 });
    expect(none.json).toEqual({ messages: [] });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(250);
  });

  it('answers a repeated dedupId with the first result', async () => {
    const topic = uniq('dedup');
    await createTopic({ name: topic, queues: 3 });
    const a = await call('POST', `/v1/topics/${topic}/messages`, { body: 'x', dedupId: 'once' });
    const b = await call('POST', `/v1/topics/${topic}/messages`, { body: 'x', dedupId: 'once' });
    expect(b.json.messages[0]).toEqual({ ...a.json.messages[0], duplicate: true });
  });

  it('resets a group offset', async () => {
    const topic = uniq('replay');
    const group = uniq('g');
    await createTopic({ name: topic, queues: 1 });
    await call('POST', `/v1/topics/${topic}/messages`, { messages: [{ body: 'a' }, { body: 'b' }] });
    const r = await call('POST', `/v1/groups/${group}/reset-offset`, { topic, to: 'LATEST' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ group, topic, offsets: [{ queueId: 0, offset: 2 }] });
    expect((await call('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, {})).json.messages).toEqual([]);
    await call('POST', `/v1/groups/${group}/reset-offset`, { topic, to: { queueId: 0, offset: 1 } });
    const got = await call('POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, {});
    expect(got.json.messages.map((m: Json) => m.body)).toEqual(['b']);
  });

  it('deletes a topic with its messages', async () => {
    const topic = uniq('gone');
    await createTopic({ name: topic, queues: 1 });
    await call('POST', `/v1/topics/${topic}/messages`, { body: 'x' });
    expect((await call('DELETE', `/v1/topics/${topic}`)).status).toBe(204);
    expectError(await call('GET', `/v1/topics/${topic}`), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('POST', `/v1/topics/${topic}/messages`, { body: 'x' }), 404, 'TOPIC_NOT_FOUND');
    // recreated, it is empty
    await createTopic({ name: topic, queues: 1 });
    expect((await call('GET', `/v1/topics/${topic}`)).json.messages).toBe(0);
  });
});

describe('errors', () => {
  it('answers malformed JSON with BAD_REQUEST', async () => {
    expect(expectError(await call('POST', '/v1/topics', '{"name":'), 400, 'BAD_REQUEST')).toMatch(/JSON/);
    const topic = uniq('t');
    await createTopic({ name: topic, queues: 1 });
    expectError(await call('POST', `/v1/topics/${topic}/messages`, '{"body": "x"'), 400, 'BAD_REQUEST');
    expectError(await call('POST', `/v1/topics/${topic}/subscriptions/g/receive`, '[1,'), 400, 'BAD_REQUEST');
    expectError(await call('POST', `/v1/topics/${topic}/subscriptions/g/ack`, 'nope'), 400, 'BAD_REQUEST');
  });

  it('names the field of a wrong type, unknown enum, out-of-range number or unknown field', async () => {
    expect(expectError(await call('POST', '/v1/topics', { name: uniq('t'), queues: 0 }), 400, 'BAD_REQUEST')).toMatch(/queues/);
    expect(expectError(await call('POST', '/v1/topics', { name: uniq('t'), queues: 'four' }), 400, 'BAD_REQUEST')).toMatch(/queues/);
    expect(expectError(await call('POST', '/v1/topics', { name: uniq('t'), type: 'WEIRD' }), 400, 'BAD_REQUEST')).toMatch(/type/);
    expect(expectError(await call('POST', '/v1/topics', { name: uniq('t'), colour: 'red' }), 400, 'BAD_REQUEST')).toMatch(/colour/);
    expect(expectError(await call('PUT', `/v1/groups/${uniq('g')}`, { invisibleMs: 10 }), 400, 'BAD_REQUEST')).toMatch(/invisibleMs/);
    const topic = uniq('t');
    await createTopic({ name: topic, queues: 1 });
    expect(expectError(await call('POST', `/v1/topics/${topic}/subscriptions/g/receive`, { maxMessages: 1000 }), 400, 'BAD_REQUEST')).toMatch(/maxMessages/);
    expect(expectError(await call('POST', `/v1/topics/${topic}/messages`, { messages: [{ body: 'ok' }, { body: 'x', tag: 'a|b' }] }), 400, 'BAD_REQUEST')).toMatch(/messages\[1\]\.tag/);
  });

  it('rejects a bad name with INVALID_NAME', async () => {
    expectError(await call('POST', '/v1/topics', { name: 'bad name!' }), 400, 'INVALID_NAME');
    expectError(await call('POST', '/v1/topics', { name: '%DLQ%mine' }), 400, 'INVALID_NAME');
    expectError(await call('POST', '/v1/topics', { name: 'x'.repeat(128) }), 400, 'INVALID_NAME');
    expectError(await call('POST', '/v1/topics/bad.name/messages', { body: 'x' }), 400, 'INVALID_NAME');
    expectError(await call('GET', '/v1/topics/bad.name'), 400, 'INVALID_NAME');
    expectError(await call('PUT', '/v1/groups/bad.group', {}), 400, 'INVALID_NAME');
    expectError(await call('GET', '/v1/groups/bad.group'), 400, 'INVALID_NAME');
    const topic = uniq('fine');
    await createTopic({ name: topic, queues: 1 });
    expectError(await call('POST', `/v1/topics/${topic}/subscriptions/bad.group/receive`, {}), 400, 'INVALID_NAME');
    expectError(await call('POST', `/v1/topics/${topic}/subscriptions/${'g'.repeat(121)}/ack`, { receiptHandles: ['x'] }), 400, 'INVALID_NAME');
    expectError(await call('POST', `/v1/topics/${topic}/subscriptions/g/receive`, { consumerId: 'bad id' }), 400, 'BAD_REQUEST');
  });

  it('answers an unknown topic or group with 404', async () => {
    const nope = uniq('nope');
    expectError(await call('GET', `/v1/topics/${nope}`), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('POST', `/v1/topics/${nope}/messages`, { body: 'x' }), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('POST', `/v1/topics/${nope}/subscriptions/g/receive`, {}), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('DELETE', `/v1/topics/${nope}`), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('PATCH', `/v1/topics/${nope}`, { retentionHours: 1 }), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('GET', '/v1/topics/%25DLQ%25nobody'), 404, 'TOPIC_NOT_FOUND');
    expectError(await call('GET', `/v1/groups/${uniq('nobody')}`), 404, 'GROUP_NOT_FOUND');
    expectError(await call('DELETE', `/v1/groups/${uniq('nobody')}`), 404, 'GROUP_NOT_FOUND');
  });

  it('enforces the topic limits and types on produce', async () => {
    const small = uniq('small');
    await createTopic({ name: small, queues: 1, maxMessageBytes: 10 });
    expectError(await call('POST', `/v1/topics/${small}/messages`, { body: 'x'.repeat(11) }), 413, 'MESSAGE_TOO_LARGE');
    expect((await call('POST', `/v1/topics/${small}/messages`, { body: 'x'.repeat(10) })).status).toBe(201);
    const normal = uniq('normal');
    await createTopic({ name: normal, queues: 1, type: 'NORMAL' });
    expectError(await call('POST', `/v1/topics/${normal}/messages`, { body: 'x', delayMs: 1000 }), 400, 'MESSAGE_TYPE_MISMATCH');
    // nothing of a rejected batch is stored
    expectError(await call('POST', `/v1/topics/${small}/messages`, { messages: [{ body: 'ok' }, { body: 'x'.repeat(11) }] }), 413, 'MESSAGE_TOO_LARGE');
    expect((await call('GET', `/v1/topics/${small}`)).json.messages).toBe(1);
  });
});

describe('web pages (/dashboard, /docs), served from the generated site module', () => {
  it('serves each page and its files with their types and an ETag, and answers a matching If-None-Match with 304', async () => {
    for (const m of ['/dashboard', '/docs']) {
      const page = await SELF.fetch(`${BASE}${m}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
      const html = await page.text();
      expect(html).toContain(`<script type="module" src="${m}/app.js"></script>`);
      const js = await SELF.fetch(`${BASE}${m}/app.js`);
      expect(js.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
      expect((await js.text()).length).toBeGreaterThan(10_000);
      const css = await SELF.fetch(`${BASE}${m}/app.css`);
      expect(css.headers.get('Content-Type')).toBe('text/css; charset=utf-8');
      await css.arrayBuffer();
      const etag = page.headers.get('ETag')!;
      expect(etag).toMatch(/^"[0-9a-f]{16}"$/);
      expect(page.headers.get('Cache-Control')).toBe('no-cache');
      const again = await SELF.fetch(`${BASE}${m}`, { headers: { 'If-None-Match': `W/${etag}` } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
      const changed = await SELF.fetch(`${BASE}${m}`, { headers: { 'If-None-Match': '"0000000000000000"' } });
      expect(changed.status).toBe(200);
      expect(await changed.text()).toBe(html);
    }
  });

  it('redirects a trailing slash and index.html to the page (307, query kept); anything else is a JSON 404', async () => {
    for (const path of ['/dashboard/', '/dashboard/index.html', '/docs/?x=1']) {
      const r = await SELF.fetch(`${BASE}${path}`, { redirect: 'manual' });
      expect(r.status, path).toBe(307);
      const to = new URL(r.headers.get('Location')!, BASE);
      expect(to.pathname + to.search, path).toBe(path.startsWith('/docs') ? '/docs?x=1' : '/dashboard');
    }
    for (const path of ['/dashboard/nope.js', '/dashboard/app.js.map', '/dashboardx', '/public/dashboard/index.html']) {
      expectError(await call('GET', path), 404, 'NOT_FOUND');
    }
    // no path escapes a mount: the URL parser resolves the dots before any route sees them
    expect((await call('GET', '/docs/../v1/health')).status).toBe(200);
  });
});

describe('idempotency keys: one entry per request, not per message', () => {
  const stored = async (topic: string) => (await call('GET', `/v1/topics/${topic}`)).json.queueStatus.reduce((n: number, q: Json) => n + q.maxOffset, 0);
  const rowsWritten = async (topic: string, queues: number) => {
    const t = (await nameServer(env).getTopic(topic))!;
    const c = await Promise.all(Array.from({ length: queues }, (_, q) => broker(env, t, q).costCounters()));
    return c.reduce((n, x) => n + (x.rowsWritten ?? 0), 0);
  };
  const batch = (n: number, tag = 'b') => ({ messages: Array.from({ length: n }, (_, i) => ({ body: `${tag}${i}` })) });

  it('a repeated request with the same Idempotency-Key stores nothing and answers the first results, each a duplicate', async () => {
    const topic = uniq('idem');
    await createTopic({ name: topic, queues: 4 });
    const key = { 'Idempotency-Key': `req-${topic}` };
    // rows written by a request of 50 without a key, then with one, once the queues are warm
    // (their first request writes the route, a stats row, a key table)
    for (let q = 0; q < 8; q++) await call('POST', `/v1/topics/${topic}/messages`, batch(1), { 'Idempotency-Key': `warm${q}` });
    const rows0 = await rowsWritten(topic, 4);
    await call('POST', `/v1/topics/${topic}/messages`, batch(50));
    const rows1 = await rowsWritten(topic, 4);
    const a = await call('POST', `/v1/topics/${topic}/messages`, batch(50), key);
    expect(a.status).toBe(201);
    // all 50 in one queue (the key's), with one row more than without the key: the key's entry
    expect(new Set(a.json.messages.map((m: Json) => m.queueId)).size).toBe(1);
    expect(await rowsWritten(topic, 4) - rows1).toBe(rows1 - rows0 + 1);
    const stored0 = await stored(topic);
    const b = await call('POST', `/v1/topics/${topic}/messages`, batch(50), key);
    expect(b.status).toBe(201);
    expect(b.json.messages).toEqual(a.json.messages.map((m: Json) => ({ ...m, duplicate: true })));
    expect(await stored(topic)).toBe(stored0);
    // another key is another request; no key, as before
    expect((await call('POST', `/v1/topics/${topic}/messages`, batch(50), { 'Idempotency-Key': `other-${topic}` })).json.messages[0].duplicate).toBeUndefined();
    expect((await call('POST', `/v1/topics/${topic}/messages`, batch(50))).json.messages[0].duplicate).toBeUndefined();
    expect(await stored(topic)).toBe(stored0 + 100);
    // the same key for a different number of messages is refused, and stores nothing
    expect(expectError(await call('POST', `/v1/topics/${topic}/messages`, batch(49), key), 409, 'CONFLICT')).toMatch(/50 message/);
    expect(await stored(topic)).toBe(stored0 + 100);
  });

  it('covers messages stored one by one too (scheduled, with a dedupId), and a raw body', async () => {
    const topic = uniq('idem-mixed');
    await createTopic({ name: topic, queues: 1 });
    const key = { 'Idempotency-Key': 'mixed:1' };
    const body = { messages: [{ body: 'now' }, { body: 'later', delayMs: 600_000 }, { body: 'd', dedupId: 'd1' }] };
    const a = await call('POST', `/v1/topics/${topic}/messages`, body, key);
    const b = await call('POST', `/v1/topics/${topic}/messages`, body, key);
    expect(b.json.messages).toEqual(a.json.messages.map((m: Json) => ({ ...m, duplicate: true })));
    const t = (await nameServer(env).getTopic(topic))!;
    expect(await brokerSql(broker(env, t, 0), 'SELECT COUNT(*) AS n FROM scheduled')).toEqual([{ n: 1 }]);
    expect(await stored(topic)).toBe(2);
    const raw = { 'Idempotency-Key': 'raw:1', 'Content-Type': 'text/plain' };
    const r1 = await call('POST', `/v1/topics/${topic}/messages`, 'plain text', raw);
    const r2 = await call('POST', `/v1/topics/${topic}/messages`, 'plain text', raw);
    expect(r2.json.messages).toEqual([{ ...r1.json.messages[0], duplicate: true }]);
    expect(await stored(topic)).toBe(3);
  });

  it('concurrent repeats store once: the first of a group commit stores, the others answer its results', async () => {
    const topic = uniq('idem-race');
    await createTopic({ name: topic, queues: 1 });
    const key = { 'Idempotency-Key': 'race' };
    const all = await Promise.all(Array.from({ length: 5 }, () => call('POST', `/v1/topics/${topic}/messages`, batch(3), key)));
    expect(all.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    const first = all.filter((r) => r.json.messages[0].duplicate === undefined);
    expect(first).toHaveLength(1);
    for (const r of all) expect(r.json.messages.map((m: Json) => m.messageId)).toEqual(first[0].json.messages.map((m: Json) => m.messageId));
    expect(await stored(topic)).toBe(3);
  });

  it('refuses a malformed key, and ignores keys on a topic with dedupWindowMs 0', async () => {
    const topic = uniq('idem-bad');
    await createTopic({ name: topic, queues: 1 });
    for (const bad of ['has space', 'x'.repeat(129), 'é']) {
      expect(expectError(await call('POST', `/v1/topics/${topic}/messages`, batch(1), { 'Idempotency-Key': bad }), 400, 'BAD_REQUEST')).toMatch(/Idempotency-Key/);
    }
    expect(await stored(topic)).toBe(0);
    const off = uniq('idem-off');
    await createTopic({ name: off, queues: 1, dedupWindowMs: 0 });
    for (let i = 0; i < 2; i++) await call('POST', `/v1/topics/${off}/messages`, batch(2), { 'Idempotency-Key': 'k' });
    expect(await stored(off)).toBe(4);
  });

  it('a send frame with idempotencyKey: a repeat on another connection, or in the same one, answers the first results', async () => {
    for (const queues of [1, 3]) {
      const topic = uniq(`idem-ws${queues}`);
      await createTopic({ name: topic, queues });
      const open = async () => {
        const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/messages/ws`, { headers: { Upgrade: 'websocket' } });
        const ws = res.webSocket!;
        const answers: Json[] = [];
        ws.addEventListener('message', (e) => answers.push(JSON.parse(e.data as string)));
        ws.accept();
        return { ws, answers };
      };
      const send = (id: number, k: string, n = 2) => JSON.stringify({ type: 'send', id, ...batch(n, k), idempotencyKey: k });
      const c1 = await open();
      c1.ws.send(send(1, 'f1'));
      c1.ws.send(send(2, 'f2'));
      c1.ws.send(send(3, 'f1')); // the same frame again on the same connection
      c1.ws.send(JSON.stringify({ type: 'send', id: 4, messages: [{ body: 'x' }], idempotencyKey: 'a b' }));
      // keyed sends that go in one append (while one is stored, the next ones wait together), a
      // scheduled one among them (stored on its own), and the first one's repeat
      for (let i = 5; i < 15; i++) c1.ws.send(send(i, `g${i}`, 3));
      c1.ws.send(JSON.stringify({ type: 'send', id: 15, messages: [{ body: 'later', delayMs: 600_000 }], idempotencyKey: 'sched' }));
      c1.ws.send(send(16, 'g5', 3));
      c1.ws.send(JSON.stringify({ type: 'send', id: 17, messages: [{ body: 'later', delayMs: 600_000 }], idempotencyKey: 'sched' }));
      for (let i = 0; i < 300 && c1.answers.length < 17; i++) await sleep(10);
      const byId = (xs: Json[]) => new Map(xs.map((a) => [a.id, a]));
      const a1 = byId(c1.answers);
      expect(a1.get(3)!.messages).toEqual(a1.get(1)!.messages.map((m: Json) => ({ ...m, duplicate: true })));
      expect(a1.get(4)).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
      for (let i = 5; i < 15; i++) expect(a1.get(i)!.messages.filter((m: Json) => !m.duplicate)).toHaveLength(3);
      expect(a1.get(16)!.messages).toEqual(a1.get(5)!.messages.map((m: Json) => ({ ...m, duplicate: true })));
      expect(a1.get(17)!.messages).toEqual(a1.get(15)!.messages.map((m: Json) => ({ ...m, duplicate: true })));
      await closeSocket(c1.ws);
      // a reconnected producer sends an unanswered frame again
      const c2 = await open();
      c2.ws.send(send(1, 'f2'));
      for (let i = 0; i < 300 && c2.answers.length < 1; i++) await sleep(10);
      expect(c2.answers[0].messages).toEqual(a1.get(2)!.messages.map((m: Json) => ({ ...m, duplicate: true })));
      await closeSocket(c2.ws);
      expect(await stored(topic)).toBe(4 + 30);
    }
  });
});

describe('produce channel: where the appends are made', () => {
  /** Sends `n` one-message frames on a produce socket and waits for their answers. */
  async function produceOverSocket(topic: string, n: number): Promise<Json[]> {
    const res = await SELF.fetch(`${BASE}/v1/topics/${topic}/messages/ws`, { headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const answers: Json[] = [];
    ws.addEventListener('message', (e) => answers.push(JSON.parse(e.data as string)));
    ws.accept();
    for (let i = 1; i <= n; i++) ws.send(JSON.stringify({ type: 'send', id: i, messages: [{ body: `m${i}` }] }));
    for (let i = 0; i < 300 && answers.length < n; i++) await sleep(10);
    await closeSocket(ws);
    return answers;
  }

  it('a topic of one queue: the Broker holding the socket stores the sends itself, with no produce call; with two queues the Worker calls each Broker', async () => {
    for (const queues of [1, 2]) {
      const topic = uniq(`chan${queues}`);
      await createTopic({ name: topic, queues });
      const t = (await nameServer(env).getTopic(topic))!;
      const answers = await produceOverSocket(topic, 5);
      // answered once each (in any order across two queues)
      expect(answers.map((a) => [a.type, a.id]).sort((a, b) => a[1] - b[1])).toEqual([1, 2, 3, 4, 5].map((i) => ['sent', i]));
      const counters = await Promise.all(Array.from({ length: queues }, (_, q) => broker(env, t, q).costCounters()));
      const calls = counters.reduce((n, c) => n + c.produceCalls, 0);
      // stored all the same: each send's offset is in its queue's log
      const stored = (await call('GET', `/v1/topics/${topic}`)).json.queueStatus.reduce((n: number, q: Json) => n + q.maxOffset, 0);
      expect(stored).toBe(5);
      if (queues === 1) expect(calls).toBe(0);
      else expect(calls).toBeGreaterThanOrEqual(1);
    }
  });
});
