/**
 * The SDK (src/client, `edgemq/client`) against a real `wrangler dev`: produce and consume round
 * trips, batches split at the server's limits, retries through a proxy that fails on purpose,
 * transactions with a check-back, push consumers (concurrency, a handler that throws,
 * reconnect across a server restart, graceful shutdown), and Admin.
 */
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Admin, EdgeMQError, Producer, PushConsumer, SendBatchError, SimpleConsumer, transactionCheckListener,
  type MessageInput, type ReceivedMessage, type TransactionCheck,
} from '../../src/client/index';
import { uniq, sleep } from './client';
import { freePort, useServer } from './server';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ctx = useServer();
const url = () => ctx.server.url;
const FAST = { type: 'EXPONENTIAL', initialMs: 0, maxMs: 100, multiplier: 1 } as const;

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function topicWith(prefix: string, cfg: { queues?: number } = {}): Promise<string> {
  const name = uniq(prefix);
  await new Admin({ url: url() }).createTopic({ name, queues: cfg.queues ?? 2 });
  return name;
}

/** Receives and acks until nothing more comes; answers the bodies. */
async function drainBodies(topic: string, group: string): Promise<unknown[]> {
  const c = new SimpleConsumer({ url: url(), topic, group });
  const out: unknown[] = [];
  for (;;) {
    const ms = await c.receive({ maxMessages: 256, waitMs: out.length ? 0 : 2000 });
    if (!ms.length) return out;
    await c.ack(ms);
    out.push(...ms.map((m) => m.body));
  }
}

// ---- proxies that misbehave on purpose ----

type Fault = 'forward' | '503' | '429' | 'drop-answer' | 'reset';

/** An HTTP proxy to the server that fails requests as planned: 503/429, drop the answer after forwarding, or reset. */
async function faultyProxy(): Promise<{ url: string; plan: Fault[]; seen: string[]; close(): Promise<void> }> {
  const plan: Fault[] = [];
  const seen: string[] = [];
  const read = (req: IncomingMessage) => new Promise<Buffer>((res) => {
    const cs: Buffer[] = [];
    req.on('data', (c: Buffer) => cs.push(c));
    req.on('end', () => res(Buffer.concat(cs)));
  });
  const server: Server = createHttpServer(async (req, res) => {
    const fault = plan.shift() ?? 'forward';
    seen.push(`${req.method} ${req.url} ${fault}`);
    if (fault === '503' || fault === '429') {
      res.writeHead(Number(fault), { 'Content-Type': 'application/json', 'Retry-After': '0' });
      res.end(JSON.stringify({ error: { code: 'OVERLOADED', message: 'busy (test proxy)' } }));
      return;
    }
    if (fault === 'reset') { req.socket.destroy(); return; }
    const body = await read(req);
    const headers: Record<string, string> = {};
    for (const h of ['content-type', 'authorization', 'idempotency-key']) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const r = await fetch(url() + req.url, { method: req.method, headers, body: body.length ? new Uint8Array(body) : undefined });
    const answer = Buffer.from(await r.arrayBuffer());
    if (fault === 'drop-answer') { req.socket.destroy(); return; } // stored, but the client never hears
    res.writeHead(r.status, { 'Content-Type': r.headers.get('content-type') ?? 'application/json' });
    res.end(answer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`, plan, seen,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/**
 * A TCP proxy on a fixed port to wherever the server is now (a restart may move it). `freeze()`
 * makes its open connections go silent without closing, as a dead network path does.
 */
async function tcpProxy(): Promise<{ url: string; freeze(): void; close(): Promise<void> }> {
  const conns = new Set<Socket>();
  const server = createTcpServer((c) => {
    const u = connect(ctx.server.port, '127.0.0.1');
    conns.add(c); conns.add(u);
    const kill = () => { c.destroy(); u.destroy(); conns.delete(c); conns.delete(u); };
    c.on('error', kill); u.on('error', kill); c.on('close', kill); u.on('close', kill);
    c.pipe(u); u.pipe(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    freeze: () => { for (const s of conns) { s.unpipe(); s.pause(); } },
    close: () => new Promise((r) => { for (const s of conns) s.destroy(); server.close(() => r()); }),
  };
}

describe('Producer and SimpleConsumer', () => {
  it('round trip: send and sendBatch, receive with long polling, ack, nack, changeInvisibility', async () => {
    const topic = await topicWith('sdk-rt');
    const group = uniq('g');
    const producer = new Producer({ url: url() });
    const consumer = new SimpleConsumer({ url: url(), topic, group, waitMs: 5000 });

    const one = await producer.send(topic, { body: { orderId: 42 }, tag: 'created', keys: ['order-42'], properties: { region: 'eu' } });
    expect(one).toMatchObject({ messageId: expect.any(String), queueId: expect.any(Number), queueOffset: expect.any(Number) });
    const batch = await producer.sendBatch(topic, [{ body: 'a' }, { body: 'b' }]);
    expect(batch).toHaveLength(2);

    const got: ReceivedMessage[] = [];
    while (got.length < 3) got.push(...await consumer.receive({ maxMessages: 10 }));
    const json = got.find((m) => m.messageId === one.messageId)!;
    expect(json).toMatchObject({
      topic, body: { orderId: 42 }, encoding: 'json', tag: 'created', keys: ['order-42'], properties: { region: 'eu' },
      deliveryAttempt: 1, receiptHandle: expect.any(String),
    });
    expect(got.filter((m) => m.encoding === 'text').map((m) => m.body).sort()).toEqual(['a', 'b']);

    // a new handle replaces the old one on the message; the old one no longer acks
    const old = json.receiptHandle;
    const fresh = await consumer.changeInvisibility(json, 60_000);
    expect(fresh).not.toBe(old);
    expect(json.receiptHandle).toBe(fresh);
    expect((await consumer.ack(old))[0].status).toBe('EXPIRED');

    const a = got.find((m) => m.body === 'a')!;
    expect((await consumer.nack(a, { delayMs: 0 }))[0].status).toBe('OK');
    expect((await consumer.ack(got.filter((m) => m !== a))).map((r) => r.status)).toEqual(['OK', 'OK']);
    const again = await consumer.receive();
    expect(again.map((m) => [m.body, m.deliveryAttempt])).toEqual([['a', 2]]);
    await consumer.ack(again);
    expect(await consumer.receive({ waitMs: 0 })).toEqual([]);
  });

  it('sendBatch splits 2500 messages into requests of at most 1000, in order, all stored', async () => {
    const topic = await topicWith('sdk-batch', { queues: 4 });
    const requests: number[] = [];
    const keys: string[] = [];
    const counting: typeof fetch = async (input, init) => {
      if (typeof init?.body === 'string' && init.body.startsWith('{"messages"')) {
        const { messages } = JSON.parse(init.body) as { messages: MessageInput[] };
        requests.push(messages.length);
        expect(messages.some((m) => m.dedupId !== undefined)).toBe(false); // idempotent per request, not per message
        keys.push((init.headers as Record<string, string>)['Idempotency-Key']);
      }
      return fetch(input, init);
    };
    const producer = new Producer({ url: url(), fetch: counting });
    const progress: number[] = [];
    const msgs: MessageInput[] = Array.from({ length: 2500 }, (_, i) => ({ body: { i } }));
    const results = await producer.sendBatch(topic, msgs, { onProgress: (n) => progress.push(n) });
    expect(requests).toEqual([1000, 1000, 500]);
    expect(new Set(keys).size).toBe(3);
    for (const k of keys) expect(k).toMatch(/^[\x21-\x7e]{1,128}$/);
    expect(new Set(results.map((r) => r.queueId)).size).toBeLessThanOrEqual(3); // a request's messages stay in one queue
    expect(progress).toEqual([1000, 2000, 2500]);
    expect(results).toHaveLength(2500);
    expect(new Set(results.map((r) => r.messageId)).size).toBe(2500);
    expect(await ctx.api.stored(topic)).toBe(2500);
    const bodies = (await drainBodies(topic, uniq('g'))) as { i: number }[];
    expect(bodies.map((b) => b.i).sort((x, y) => x - y)).toEqual(msgs.map((_, i) => i));
  });

  it('sendBatch also splits at 8 MiB, and refuses a bad message before sending anything', async () => {
    const topic = await topicWith('sdk-bytes');
    const requests: number[] = [];
    const producer = new Producer({
      url: url(),
      fetch: async (input, init) => { requests.push(typeof init?.body === 'string' ? init.body.length : 0); return fetch(input, init); },
    });
    const big = 'x'.repeat(900 * 1024);
    const results = await producer.sendBatch(topic, Array.from({ length: 10 }, () => ({ body: big }))); // 9 MiB in all
    expect(results).toHaveLength(10);
    expect(requests).toHaveLength(2);
    expect(Math.max(...requests)).toBeLessThan(8 * 1024 * 1024 + 64 * 1024);

    const topic2 = await topicWith('sdk-bad');
    const bad: MessageInput[] = Array.from({ length: 1500 }, (_, i) => ({ body: i }));
    bad[1200] = { body: 'fifo and delayed', messageGroup: 'g', delayMs: 1000 };
    const err = await producer.sendBatch(topic2, bad).catch((e) => e);
    expect(err).toBeInstanceOf(EdgeMQError);
    expect(err.code).toBe('MESSAGE_TYPE_MISMATCH');
    expect(err.message).toContain('messages[1200]');
    expect(await ctx.api.stored(topic2)).toBe(0);
  });

  it('retries 503 and 429 with backoff, and a retried send whose answer was lost is stored once (Idempotency-Key)', async () => {
    const topic = await topicWith('sdk-retry');
    const proxy = await faultyProxy();
    try {
      const producer = new Producer({ url: proxy.url, retry: { retries: 4, initialMs: 200, maxMs: 1000 } });

      proxy.plan.push('503', '429');
      const t0 = Date.now();
      const r1 = await producer.send(topic, { body: 'after two busy answers' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100 + 200); // backoff: at least half of each step
      expect(proxy.seen.map((s) => s.split(' ').pop())).toEqual(['503', '429', 'forward']);
      expect(r1.duplicate).toBeUndefined();

      proxy.plan.push('drop-answer', 'reset');
      const r2 = await producer.send(topic, { body: 'answer lost' });
      expect(proxy.seen.slice(3).map((s) => s.split(' ').pop())).toEqual(['drop-answer', 'reset', 'forward']);
      expect(r2.duplicate).toBe(true); // the first try was stored: the retry with the same Idempotency-Key stored nothing
      expect(await ctx.api.stored(topic)).toBe(2);
      expect((await drainBodies(topic, uniq('g'))).sort()).toEqual(['after two busy answers', 'answer lost']);

      // a refusal is not retried; without a key (or dedupIds) a lost answer is not retried either
      const before = proxy.seen.length;
      const notFound = await producer.send('no-such-topic', { body: 1 }).catch((e) => e);
      expect(notFound).toMatchObject({ code: 'TOPIC_NOT_FOUND', status: 404 });
      expect(proxy.seen.length).toBe(before + 1);
      const plain = new Producer({ url: proxy.url, idempotent: false, retry: { retries: 4, initialMs: 10 } });
      proxy.plan.push('reset');
      const lost = await plain.send(topic, { body: 'x' }).catch((e) => e);
      expect(lost).toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
      expect(proxy.seen.length).toBe(before + 2);
    } finally {
      await proxy.close();
    }
  });

  it('gives up on an unreachable server with NETWORK_ERROR after its retries', async () => {
    const port = await freePort();
    const tries: number[] = [];
    const producer = new Producer({
      url: `http://127.0.0.1:${port}`, retry: { retries: 2, initialMs: 20 },
      fetch: (input, init) => { tries.push(Date.now()); return fetch(input, init); },
    });
    const err = await producer.send('t', { body: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(EdgeMQError);
    expect(err.code).toBe('NETWORK_ERROR');
    expect(err.message).toBe(`cannot reach the edgemq server at http://127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(tries).toHaveLength(3);
  });
});

describe('transactions', () => {
  it('commits or rolls back as the local transaction answers; UNKNOWN is settled by the checker', async () => {
    const topic = await topicWith('sdk-tx', { queues: 1 });
    const group = uniq('g');
    const producer = new Producer({ url: url() });
    const checks: TransactionCheck[] = [];
    const decide = new Map<string, 'COMMIT' | 'ROLLBACK'>();
    const checker = createHttpServer(transactionCheckListener((c) => { checks.push(c); return decide.get(c.transactionId) ?? 'UNKNOWN'; }));
    await new Promise<void>((r) => checker.listen(0, '127.0.0.1', r));
    const checkUrl = `http://127.0.0.1:${(checker.address() as { port: number }).port}/tx-check`;
    try {
      const committed = await producer.sendTransactional(topic, [{ body: 'commit me' }], () => 'COMMIT');
      expect(committed.state).toBe('COMMITTED');
      const rolled = await producer.sendTransactional(topic, [{ body: 'roll me back' }], () => 'ROLLBACK');
      expect(rolled.state).toBe('ROLLED_BACK');
      const boom = await producer.sendTransactional(topic, [{ body: 'local failure' }], () => { throw new Error('db down'); }).catch((e) => e);
      expect(boom.message).toBe('db down');

      // unknown: the broker asks checkUrl, which commits it
      const unknown = await producer.sendTransactional(topic, [{ body: 'checked' }, { body: 'checked too' }],
        (tx) => { decide.set(tx.transactionId, 'COMMIT'); return 'UNKNOWN'; }, { checkUrl, checkAfterMs: 0, checkIntervalMs: 1000 });
      expect(unknown.state).toBe('UNKNOWN');

      const c = new SimpleConsumer({ url: url(), topic, group });
      const got: ReceivedMessage[] = [];
      await until(async () => { got.push(...await c.receive({ waitMs: 1000 })); return got.length >= 3; }, 'the committed and checked messages');
      expect(got.map((m) => m.body).sort()).toEqual(['checked', 'checked too', 'commit me']);
      expect(checks[0]).toMatchObject({ topic, transactionId: unknown.transactionId, checkTimes: 1 });
      expect([...checks[0].messageIds].sort()).toEqual([...unknown.messageIds].sort());
      await c.ack(got);
      expect(await c.receive({ waitMs: 500 })).toEqual([]);
    } finally {
      await new Promise((r) => checker.close(r));
    }
  });
});

describe('PushConsumer', () => {
  it('runs up to `concurrency` handlers at once and acks each', async () => {
    const topic = await topicWith('sdk-conc', { queues: 4 });
    const group = uniq('g');
    let now = 0;
    let peak = 0;
    const done = new Set<unknown>();
    const consumer = new PushConsumer({
      url: url(), topic, group, concurrency: 4,
      handler: async (m) => {
        peak = Math.max(peak, ++now);
        await sleep(150);
        now--;
        done.add(m.body);
      },
    });
    await consumer.start();
    const t0 = Date.now();
    await new Producer({ url: url() }).sendBatch(topic, Array.from({ length: 24 }, (_, i) => ({ body: i })));
    await until(() => done.size === 24, '24 messages handled');
    const took = Date.now() - t0;
    await consumer.shutdown();
    expect(peak).toBe(4);
    expect(took).toBeLessThan(24 * 150 * 0.6); // not one at a time
    expect(consumer.stats).toMatchObject({ handled: 24, failed: 0, acked: 24, active: 0 });
    const g = await new Admin({ url: url() }).getGroup(group);
    expect(g.lag).toBe(0);
    expect(g.queues.reduce((n, q) => n + q.inflight, 0)).toBe(0);
  });

  it('a handler that throws nacks: the message comes again with deliveryAttempt 2 after the delay it asked for', async () => {
    const topic = await topicWith('sdk-nack');
    const group = uniq('g');
    await new Admin({ url: url() }).putGroup(group, { retryPolicy: FAST, maxRetries: 3 });
    const seen: { body: unknown; attempt: number; at: number }[] = [];
    const errors: Error[] = [];
    const consumer = new PushConsumer({
      url: url(), topic, group, concurrency: 2,
      handler: (m) => {
        seen.push({ body: m.body, attempt: m.deliveryAttempt, at: Date.now() });
        if (m.body === 'boom' && m.deliveryAttempt === 1) throw Object.assign(new Error('not yet'), { delayMs: 400 });
      },
    }).on('error', (e) => errors.push(e));
    await consumer.start();
    await new Producer({ url: url() }).sendBatch(topic, [{ body: 'boom' }, { body: 'fine' }]);
    await until(() => seen.filter((s) => s.body === 'boom').length === 2, 'the redelivery');
    await until(() => consumer.stats.acked === 2, 'both acked');
    await consumer.shutdown();
    const boom = seen.filter((s) => s.body === 'boom');
    expect(boom.map((s) => s.attempt)).toEqual([1, 2]);
    expect(boom[1].at - boom[0].at).toBeGreaterThanOrEqual(350);
    expect(seen.filter((s) => s.body === 'fine').map((s) => s.attempt)).toEqual([1]);
    expect(consumer.stats).toMatchObject({ handled: 3, failed: 1, nacked: 1, acked: 2 });
    expect(errors).toEqual([]);
    expect((await new Admin({ url: url() }).getGroup(group)).lag).toBe(0);
  });

  it('start() rejects at once when the server refuses: unknown topic, bad filter', async () => {
    const t0 = Date.now();
    const handler = () => undefined;
    const missing = await new PushConsumer({ url: url(), topic: uniq('nope'), group: 'g', handler }).start().catch((e) => e);
    expect(missing).toMatchObject({ code: 'TOPIC_NOT_FOUND', status: 404 });
    const topic = await topicWith('sdk-refuse');
    const badFilter = await new PushConsumer({ url: url(), topic, group: 'g', handler, filter: { sql: 'a = = 1' } }).start().catch((e) => e);
    expect(badFilter).toMatchObject({ code: 'INVALID_FILTER', status: 400 });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('works with a standard WebSocket too (as in browsers): token-less URL, refusals found by asking over HTTP', async () => {
    const { WebSocket: StandardWebSocket } = await import('undici');
    const topic = await topicWith('sdk-std');
    const got: unknown[] = [];
    const consumer = new PushConsumer({ url: url(), topic, group: uniq('g'), WebSocket: StandardWebSocket, handler: (m) => { got.push(m.body); } });
    await consumer.start();
    await new Producer({ url: url() }).send(topic, { body: 'standard' });
    await until(() => consumer.stats.acked === 1, 'the ack');
    await consumer.shutdown();
    expect(got).toEqual(['standard']);
    const t0 = Date.now();
    const missing = await new PushConsumer({ url: url(), topic: uniq('nope'), group: 'g', WebSocket: StandardWebSocket, handler: () => undefined })
      .start().catch((e) => e);
    expect(missing).toMatchObject({ code: 'TOPIC_NOT_FOUND', status: 404 });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('graceful shutdown: running handlers finish and are acked; nothing new starts or is pushed meanwhile', async () => {
    const topic = await topicWith('sdk-shut');
    const group = uniq('g');
    const started: unknown[] = [];
    const finished: unknown[] = [];
    const consumer = new PushConsumer({
      url: url(), topic, group, concurrency: 3,
      handler: async (m) => { started.push(m.body); await sleep(800); finished.push(m.body); },
    });
    await consumer.start();
    const producer = new Producer({ url: url() });
    await producer.sendBatch(topic, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    await until(() => started.length === 3, 'three handlers running');
    const stopping = consumer.shutdown();
    await producer.sendBatch(topic, [{ body: 4 }, { body: 5 }]); // sent while shutting down
    await stopping;
    expect(finished.sort()).toEqual([1, 2, 3]);
    expect(started).toHaveLength(3);
    expect(consumer.stats).toMatchObject({ acked: 3, active: 0 });
    expect(consumer.isRunning).toBe(false);
    // the three are done for the group; the two sent during the shutdown were never pushed (first delivery still ahead)
    const rest = await new SimpleConsumer({ url: url(), topic, group }).receive({ waitMs: 2000, maxMessages: 10 });
    expect(rest.map((m) => [m.body, m.deliveryAttempt]).sort()).toEqual([[4, 1], [5, 1]]);
  });

  it('shutdown gives up on a stuck handler after timeoutMs and aborts its signal', async () => {
    const topic = await topicWith('sdk-stuck');
    let aborted = false;
    const consumer = new PushConsumer({
      url: url(), topic, group: uniq('g'),
      handler: (_m, { signal }) => new Promise((resolve) => signal.addEventListener('abort', () => { aborted = true; resolve(undefined); })),
    }).on('error', () => undefined);
    await consumer.start();
    await new Producer({ url: url() }).send(topic, { body: 'stuck' });
    await until(() => consumer.stats.active === 1, 'the handler to start');
    const t0 = Date.now();
    await consumer.shutdown({ timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(aborted).toBe(true);
  });

  it('reconnects after the server restarts and loses nothing', async () => {
    const proxy = await tcpProxy();
    const topic = await topicWith('sdk-restart');
    const group = uniq('g');
    const handled = new Map<unknown, number>();
    let slowStarted = false;
    const connects: boolean[] = [];
    const consumer = new PushConsumer({
      url: proxy.url, topic, group, concurrency: 4, reconnect: { initialMs: 100, maxMs: 1000 },
      handler: async (m) => {
        if (m.body === 'slow') { slowStarted = true; await sleep(2500); }
        handled.set(m.body, (handled.get(m.body) ?? 0) + 1);
      },
    }).on('connect', (e) => connects.push(e.reconnect)).on('error', () => undefined);
    try {
      await consumer.start();
      const before = Array.from({ length: 10 }, (_, i) => ({ body: `before-${i}` }));
      await new Producer({ url: url() }).sendBatch(topic, [...before, { body: 'slow' }]);
      await until(() => handled.size === 10 && slowStarted, 'the first messages');

      await ctx.server.restart('SIGKILL'); // 'slow' is in its handler, unacked, while the server goes away
      const after = Array.from({ length: 10 }, (_, i) => ({ body: `after-${i}` }));
      await new Producer({ url: url() }).sendBatch(topic, after);
      await until(() => handled.size === 21, 'every message, after the reconnect', 30_000);
      await until(async () => (await new Admin({ url: url() }).getGroup(group)).lag === 0, 'no lag', 15_000);
      expect(connects[0]).toBe(false);
      expect(connects.slice(1).length).toBeGreaterThanOrEqual(1);
      expect(connects.slice(1).every(Boolean)).toBe(true);
      expect(consumer.stats.reconnects).toBeGreaterThanOrEqual(1);
      for (const m of [...before, ...after]) expect(handled.get(m.body), String(m.body)).toBeGreaterThanOrEqual(1);
    } finally {
      await consumer.shutdown();
      await proxy.close();
    }
    const g = await new Admin({ url: url() }).getGroup(group);
    expect(g.queues.reduce((n, q) => n + q.inflight + q.retrying, 0)).toBe(0);
  }, 90_000);

  it('notices a connection that went silent (heartbeat) and reconnects', async () => {
    const proxy = await tcpProxy();
    const topic = await topicWith('sdk-silent');
    const got: unknown[] = [];
    const consumer = new PushConsumer({
      url: proxy.url, topic, group: uniq('g'), heartbeatMs: 500, reconnect: { initialMs: 50, maxMs: 200 },
      handler: (m) => { got.push(m.body); },
    }).on('error', () => undefined);
    try {
      await consumer.start();
      proxy.freeze(); // no close, no FIN: only the missing pongs tell
      await until(() => consumer.stats.reconnects >= 1 && consumer.isConnected, 'a reconnect', 10_000);
      await new Producer({ url: url() }).send(topic, { body: 'after the silence' });
      await until(() => got.length === 1, 'the message on the new connection');
      expect(got).toEqual(['after the silence']);
    } finally {
      await consumer.shutdown();
      await proxy.close();
    }
  });
});

describe('Admin', () => {
  it('topics, groups and offsets, tokens', async () => {
    const admin = new Admin({ url: url() });
    const name = uniq('sdk-admin');
    const t = await admin.createTopic({ name, queues: 2, type: 'NORMAL', retentionHours: 5 });
    expect(t).toMatchObject({ name, queues: 2, type: 'NORMAL', retentionHours: 5 });
    expect(await admin.createTopic({ name }).catch((e) => e)).toMatchObject({ code: 'TOPIC_EXISTS', status: 409 });
    expect((await admin.listTopics()).map((x) => x.name)).toContain(name);
    expect((await admin.updateTopic(name, { queues: 3 })).queues).toBe(3);
    expect((await admin.getTopic(name)).queueStatus).toHaveLength(3);

    const group = uniq('g');
    expect(await admin.putGroup(group, { maxRetries: 2, invisibleMs: 5000 })).toMatchObject({ name: group, maxRetries: 2, invisibleMs: 5000 });
    await new Producer({ url: url() }).sendBatch(name, [{ body: 1 }, { body: 2 }]);
    expect(await drainBodies(name, group)).toHaveLength(2);
    expect((await admin.listGroups()).find((g) => g.name === group)).toMatchObject({ lag: 0 });
    const reset = await admin.resetOffset(group, name, 'EARLIEST');
    expect(reset).toMatchObject({ group, topic: name });
    expect(reset.offsets.every((o) => o.offset === 0)).toBe(true);
    expect((await admin.getGroup(group)).lag).toBe(2);
    expect((await drainBodies(name, group)).sort()).toEqual([1, 2]);

    const tok = await admin.createToken(uniq('tok'), [{ resource: `topic:${name}`, actions: ['PUB'] }]);
    expect(tok.token).toMatch(/^emq_/);
    expect((await admin.listTokens()).map((x) => x.name)).toContain(tok.name);
    await admin.revokeToken(tok.name);
    expect((await admin.listTokens()).map((x) => x.name)).not.toContain(tok.name);

    await admin.deleteGroup(group);
    await admin.deleteTopic(name);
    expect(await admin.getTopic(name).catch((e) => e)).toMatchObject({ code: 'TOPIC_NOT_FOUND', status: 404 });
  });

  it('message lookup, query by key, trace, and dead letters (list, resend)', async () => {
    const admin = new Admin({ url: url() });
    const topic = await topicWith('sdk-query');
    const group = uniq('g');
    await admin.putGroup(group, { maxRetries: 0, retryPolicy: FAST });
    const [sent] = await new Producer({ url: url() }).sendBatch(topic, [{ body: 'find me', keys: ['k-1'] }, { body: 'other', keys: ['k-2'] }]);

    const byKey = await admin.queryMessages(topic, { key: 'k-1' });
    expect(byKey.messages.map((m) => m.messageId)).toEqual([sent.messageId]);
    const all: unknown[] = [];
    for await (const m of admin.queryAll(topic, { start: 0 }, { limit: 1 })) all.push(m.body);
    expect(all.sort()).toEqual(['find me', 'other']);

    // a nack with no retries left dead-letters the message
    const c = new SimpleConsumer({ url: url(), topic, group });
    const got = [];
    while (got.length < 2) got.push(...await c.receive({ waitMs: 2000 }));
    await c.ack(got.filter((m) => m.messageId !== sent.messageId));
    await c.nack(got.filter((m) => m.messageId === sent.messageId));

    const detail = await admin.getMessage(topic, sent.messageId);
    expect(detail).toMatchObject({ messageId: sent.messageId, body: 'find me', state: 'STORED' });
    let dead: Awaited<ReturnType<Admin['listDeadLetters']>> = { messages: [] };
    await until(async () => (dead = await admin.listDeadLetters(group)).messages.length === 1, 'the dead letter');
    expect(dead.messages[0]).toMatchObject({ body: 'find me', properties: { ORIGIN_TOPIC: topic, ORIGIN_MESSAGE_ID: sent.messageId } });
    const events = await admin.trace(topic, sent.messageId);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['PUBLISHED', 'DELIVERED', 'NACKED']));
    expect(events.find((e) => e.type === 'DELIVERED')).toMatchObject({ group, deliveryAttempt: 1 });

    await admin.resendDeadLetters(group);
    const back = await c.receive({ waitMs: 5000 });
    expect(back.map((m) => m.body)).toEqual(['find me']);
    await c.ack(back);
    expect((await admin.listDeadLetters(uniq('never'))).messages).toEqual([]);
  });
});

describe('in plain Node 20, as a package', () => {
  beforeAll(async () => { await promisify(execFile)(process.execPath, ['bin/edgemq.mjs', '--build'], { cwd: ROOT }); }, 60_000);

  it("imports 'edgemq/client' (dist/client.mjs) and pushes over the ws package", async () => {
    const topic = await topicWith('sdk-node');
    const script = `
      import { Producer, PushConsumer } from 'edgemq/client';
      const url = ${JSON.stringify(url())};
      const got = [];
      const c = new PushConsumer({ url, topic: ${JSON.stringify(topic)}, group: 'node', handler: (m) => { got.push(m.body); } });
      await c.start();
      await new Producer({ url }).send(${JSON.stringify(topic)}, { body: { hello: 'node' } });
      while (!got.length) await new Promise((r) => setTimeout(r, 20));
      await c.shutdown();
      console.log(JSON.stringify({ got, stats: c.stats, hasGlobalWebSocket: typeof WebSocket !== 'undefined' }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, timeout: 30_000 });
    const r = JSON.parse(stdout);
    expect(r.got).toEqual([{ hello: 'node' }]);
    expect(r.stats).toMatchObject({ handled: 1, acked: 1 });
    if (process.versions.node.startsWith('20.')) expect(r.hasGlobalWebSocket).toBe(false);
  });
});

