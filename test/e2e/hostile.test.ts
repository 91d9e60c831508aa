/**
 * Hostile input against a real `wrangler dev`: bodies over the limits refused without being read
 * (a Content-Length over the limit, an endless chunked body), WebSocket frames that are oversized,
 * deeply nested, binary or random (fast-check), tokens (401 / 403, `?token=` on the WebSocket,
 * revocation at once), and a queue over its long-poll capacity answering 429 instead of waiting.
 * One server, with an ADMIN_TOKEN, for the whole file.
 */
import fc from 'fast-check';
import { connect as tcpConnect, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, expectError, sleep, uniq, type Json } from './client';
import { useServer } from './server';
import { PushClient, UpgradeRefused, type WsOpts } from './ws-client';

const ADMIN = 'hostile-admin-Token_0123456789';
const ctx = useServer({ vars: { ADMIN_TOKEN: ADMIN } });
let api: Api;
beforeAll(() => { api = new Api(() => ctx.server.url, ADMIN); });

const MiB = 1024 * 1024;
const CONTROL_LIMIT = MiB; // LIMITS.controlRequestBytesMax
const PRODUCE_LIMIT = 12 * MiB; // LIMITS.requestBytesMax

// ---- raw HTTP over a socket: send what fetch would not (an endless chunked body), and read while sending ----

/** `body` is null when the server closed the connection after the head (see `rawRequest`). */
interface RawAnswer { status: number; headers: Record<string, string>; body: string | null; sent: number; ms: number }

/**
 * Sends the request head, then `body` chunks for as long as the server has not answered (at most
 * `maxBytes`), and answers the response with how many body bytes had been sent by then.
 */
function rawRequest(port: number, head: string[], body: { chunk: Buffer; chunked: boolean; maxBytes: number }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const sock: Socket = tcpConnect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let sent = 0;
    let answered = false;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer within 20 s (sent ${sent} bytes)`)); }, 20_000);
    const finish = (a: RawAnswer) => { answered = true; clearTimeout(timer); sock.destroy(); resolve(a); };
    const tryParse = (closed = false) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      let rest = buf.subarray(end + 4);
      let text: string | null = null;
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (rest.length >= n) text = rest.subarray(0, n).toString('utf8');
      } else if ((headers['transfer-encoding'] ?? '').includes('chunked')) {
        const parts: Buffer[] = [];
        for (;;) {
          const nl = rest.indexOf('\r\n');
          if (nl < 0) break;
          const size = parseInt(rest.subarray(0, nl).toString(), 16);
          if (size === 0) { text = Buffer.concat(parts).toString('utf8'); break; }
          if (rest.length < nl + 2 + size + 2) break;
          parts.push(rest.subarray(nl + 2, nl + 2 + size));
          rest = rest.subarray(nl + 2 + size + 2);
        }
      }
      // a server that stops reading an upload resets the connection, and a reset may drop the
      // end of its answer: the status line is what it said
      if (text !== null || closed) finish({ status, headers, body: text, sent, ms: Date.now() - t0 });
    };
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); tryParse(); });
    sock.on('error', () => { /* the server may cut an upload short once it has answered */ });
    sock.on('close', () => {
      if (answered) return;
      tryParse(true);
      // closed before a status line could be read (a reset can drop it): status 0
      if (!answered) finish({ status: 0, headers: {}, body: null, sent, ms: Date.now() - t0 });
    });
    sock.on('connect', async () => {
      sock.write(`${head.join('\r\n')}\r\n\r\n`);
      // stop sending at the first byte of an answer: writing on would make the server reset the
      // connection, and a reset throws away what it had sent and we had not read yet
      while (!buf.length && sent < body.maxBytes && !sock.destroyed) {
        const frame = body.chunked ? Buffer.concat([Buffer.from(`${body.chunk.length.toString(16)}\r\n`), body.chunk, Buffer.from('\r\n')]) : body.chunk;
        sent += body.chunk.length;
        if (!sock.write(frame)) await new Promise<void>((ok) => { sock.once('drain', ok); sock.once('close', ok); });
      }
    });
  });
}

function head(method: string, path: string, extra: string[]): string[] {
  return [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `Authorization: Bearer ${ADMIN}`, 'Content-Type: application/json', ...extra];
}

/**
 * The port of the runtime that runs the Worker itself, behind wrangler's dev proxy. The proxy
 * (only in `wrangler dev`) forwards an upload to it as a fetch, and when the Worker answers
 * before it has read the upload the proxy often replaces the answer with its own 503 "Your
 * worker restarted mid-request"; so uploads the Worker refuses unread are sent here. Found as
 * the other listening socket of the dev server's process group that serves /v1/health.
 */
async function workerPort(): Promise<number> {
  const { readFileSync, readdirSync, readlinkSync } = await import('node:fs');
  const listening = new Map<string, number>(); // socket inode -> port
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let rows: string[] = [];
    try { rows = readFileSync(f, 'utf8').trim().split('\n').slice(1); } catch { continue; }
    for (const r of rows) {
      const c = r.trim().split(/\s+/);
      if (c[3] === '0A') listening.set(c[9], parseInt(c[1].split(':')[1], 16));
    }
  }
  const owner = [...listening].find(([, port]) => port === ctx.server.port)?.[0];
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  const inodesOf = (pid: string) => {
    try { return readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } }); } catch { return []; }
  };
  const pgid = (pid: string) => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2]; } catch { return null; } };
  const front = pids.find((p) => inodesOf(p).includes(`socket:[${owner}]`));
  if (!front) throw new Error('cannot find the dev server process');
  const group = pgid(front);
  const ports = new Set<number>();
  for (const p of pids) {
    if (pgid(p) !== group) continue;
    for (const l of inodesOf(p)) { const m = /^socket:\[(\d+)\]$/.exec(l); const port = m && listening.get(m[1]); if (port && port !== ctx.server.port) ports.add(port); }
  }
  for (const port of ports) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v1/health`, { headers: { Authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(2000) });
      if (r.status === 200 && ((await r.json()) as Json).status === 'ok') return port;
    } catch { /* not it */ }
  }
  throw new Error(`no Worker runtime among the dev server's ports ${[...ports].join(', ')}`);
}

function expectRefused(a: RawAnswer, code: string) {
  expect(a.status, a.body ?? '').toBe(413);
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  if (a.body === null) return; // cut off by the reset (only when more was sent than read)
  const j = JSON.parse(a.body);
  expect(Object.keys(j)).toEqual(['error']);
  expect(j.error).toMatchObject({ code, message: expect.any(String) });
}

describe('bodies over the limits are refused without being read', () => {
  it('a Content-Length over the limit is 413, and nothing is stored', async () => {
    const group = uniq('big');
    const topic = uniq('big-t');
    await api.createTopic(topic, { queues: 1 });
    // one byte over each limit, all of it sent (workerd answers once the upload has arrived; the
    // Worker decides from the header and reads none of it: test/workers/fuzz.test.ts checks that)
    const whole = `{"a":"${'x'.repeat(CONTROL_LIMIT - 7)}"}`;
    expect(whole.length).toBe(CONTROL_LIMIT + 1);
    const port = await workerPort();
    const control = await rawRequest(port, head('PUT', `/v1/groups/${group}`, [`Content-Length: ${whole.length}`]),
      { chunk: Buffer.from(whole), chunked: false, maxBytes: whole.length });
    expectRefused(control, 'BAD_REQUEST');
    const produce = await rawRequest(port, head('POST', `/v1/topics/${topic}/messages`, [`Content-Length: ${PRODUCE_LIMIT + 1}`]),
      { chunk: Buffer.alloc(PRODUCE_LIMIT + 1, 0x20), chunked: false, maxBytes: PRODUCE_LIMIT + 1 });
    expectRefused(produce, 'BATCH_TOO_LARGE');
    // nothing was stored, and the server is fine
    expectError(await api.get(`/v1/groups/${group}`), 404, 'GROUP_NOT_FOUND');
    expect(await api.stored(topic)).toBe(0);
  });

  it('a chunked body without Content-Length is cut off at the limit, not read to its end', async () => {
    const group = uniq('chunked-g');
    const topic = uniq('chunked');
    await api.createTopic(topic, { queues: 1 });
    // an endless upload (up to 256 MiB): the answer must come once the limit is passed
    const endless = 256 * MiB;
    const port = await workerPort();
    const upload = async (method: string, path: string, cutOffBefore: number, code: string) => {
      for (let attempt = 1; ; attempt++) {
        const a = await rawRequest(port, head(method, path, ['Transfer-Encoding: chunked']),
          { chunk: Buffer.alloc(64 * 1024, 0x5b), chunked: true, maxBytes: endless });
        expect(a.sent, 'the server stopped taking the upload long before its end').toBeLessThan(cutOffBefore);
        // the server answers and closes while the upload goes on; the reset that follows can throw
        // the answer away before it is read: then the cut-off is all there is to see, try again
        if (a.status !== 0 || attempt === 3) { expectRefused(a, code); return; }
      }
    };
    await upload('PUT', `/v1/groups/${group}`, 64 * MiB, 'BAD_REQUEST');
    await upload('POST', `/v1/topics/${topic}/messages`, 96 * MiB, 'BATCH_TOO_LARGE');
    expectError(await api.get(`/v1/groups/${group}`), 404, 'GROUP_NOT_FOUND');
    expect(await api.stored(topic)).toBe(0);
  });
});

// ---- WebSocket frames ---------------------------------------------------------------------------

async function connect(topic: string, group: string, o: WsOpts = {}): Promise<PushClient> {
  return PushClient.connect(ctx.server.url, topic, group, { token: ADMIN, ...o });
}

describe('WebSocket frames', () => {
  // 1 queue: the client's socket ends at the Broker; 2: at the relay in the Worker
  it.each([1, 2])('oversized, deeply nested, binary and random frames each get an error frame; the socket stays open and works (%i queues)', async (queues) => {
    const topic = uniq('frames');
    const group = uniq('g');
    await api.createTopic(topic, { queues });
    const c = await connect(topic, group, { consumerId: 'c1', maxInflight: 4 });
    await api.produce(topic, { body: 'held' });
    await c.untilCount(1);
    const before = (await api.group(group)).queues;

    const sendAndExpectError = async (what: string, send: () => void, code?: string) => {
      const seen = c.errors.length;
      send();
      const e = await c.nextError(seen, 10_000).catch((err) => { throw new Error(`${what}: ${(err as Error).message}`); });
      expect(e.type, what).toBe('error');
      if (code) expect(e.code, what).toBe(code);
      expect(e.code, what).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(e.message.length, what).toBeGreaterThan(5);
      expect(c.open, `${what}: the socket closed (${c.closeCode} ${c.closeReason})`).toBe(true);
    };
    await sendAndExpectError('an oversized frame (1 MiB + 64)', () => c.send(`{"type":"ack","receiptHandles":["${'h'.repeat(CONTROL_LIMIT)}"]}`), 'BAD_REQUEST');
    await sendAndExpectError('deep nesting', () => c.send(`{"type":"ack","receiptHandles":${'['.repeat(100_000)}"h"${']'.repeat(100_000)}}`), 'BAD_REQUEST');
    await sendAndExpectError('deep objects', () => c.send(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`), 'BAD_REQUEST');
    await sendAndExpectError('binary', () => c.sendBinary(new Uint8Array([0x7b, 0x7d, 0, 255, 254])), 'BAD_REQUEST');
    await sendAndExpectError('an empty frame', () => c.send(''), 'BAD_REQUEST');
    await sendAndExpectError('1001 handles', () => c.send({ type: 'ack', receiptHandles: Array.from({ length: 1001 }, () => 'h') }), 'BAD_REQUEST');
    await sendAndExpectError('a relay-internal frame', () => c.send({ type: 'credit', n: 1e9 }), 'BAD_REQUEST');

    const garbage: fc.Arbitrary<string | Uint8Array> = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
      fc.record({ type: fc.constantFrom('ack', 'nack', 'credit', 'reclaim', 'messages'), receiptHandles: fc.array(fc.string({ maxLength: 80 }), { maxLength: 4 }), delayMs: fc.anything() }, { requiredKeys: ['type'] })
        .map((v) => JSON.stringify(v)),
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
    );
    let n = 0;
    await fc.assert(fc.asyncProperty(garbage, async (frame) => {
      n++;
      await sendAndExpectError(`frame ${JSON.stringify(typeof frame === 'string' ? frame.slice(0, 100) : [...frame.slice(0, 20)])}`,
        () => (typeof frame === 'string' ? c.send(frame) : c.sendBinary(frame)));
    }), { numRuns: 100, endOnFailure: true });
    expect(n).toBe(100);

    // nothing of that was an ack: the delivery is still out; a real ack still works
    expect((await api.group(group)).queues).toEqual(before);
    c.ack(c.messages.slice(0, 1));
    await api.produce(topic, { body: 'after' });
    await c.untilCount(2);
    c.ack(c.messages.slice(1));
    for (let i = 0; i < 50 && ((await api.group(group)).lag !== 0); i++) await sleep(100);
    const g = await api.group(group);
    expect(g.lag).toBe(0);
    expect(g.queues.reduce((s: number, q: Json) => s + q.inflight, 0)).toBe(0);
    expect(c.open).toBe(true);
    await c.close();
  }, 120_000);
});

// ---- tokens -----------------------------------------------------------------------------------------

describe('tokens', () => {
  it('401 for no or a bad token, 403 for a valid one without the permission, on produce, consume, admin and the WebSocket; revoke is at once', async () => {
    const topic = uniq('tok');
    const other = uniq('tok-other');
    const group = uniq('tok-g');
    await api.createTopic(topic, { queues: 2 });
    await api.createTopic(other, { queues: 1 });
    const issue = async (name: string, permissions: Json[]) => {
      const r = await api.post('/v1/tokens', { name, permissions });
      expect(r.status, r.text).toBe(201);
      expect(r.body.token).toMatch(/^emq_/);
      return r.body.token as string;
    };
    const pub = await issue(uniq('pub'), [{ resource: `topic:${topic}`, actions: ['PUB'] }]);
    const sub = await issue(uniq('sub'), [{ resource: `topic:${topic}`, actions: ['SUB'] }, { resource: `group:${group}`, actions: ['SUB'] }]);
    const subTopicOnly = await issue(uniq('subt'), [{ resource: `topic:${topic}`, actions: ['SUB'] }]);
    const elsewhere = await issue(uniq('else'), [{ resource: `topic:${other}`, actions: ['PUB', 'SUB', 'ADMIN'] }, { resource: 'group:*', actions: ['SUB'] }]);
    const subName = (await api.get('/v1/tokens')).body.tokens.find((t: Json) => t.permissions.some((p: Json) => p.resource === `group:${group}`)).name;

    const sp = `/v1/topics/${topic}/subscriptions/${group}`;
    const produce = (token: string | null) => api.post(`/v1/topics/${topic}/messages`, { body: 'x' }, { token });
    const receive = (token: string | null) => api.post(`${sp}/receive`, { maxMessages: 1 }, { token });
    const adminCalls: [string, string, unknown][] = [
      ['GET', '/v1/topics', undefined], ['POST', '/v1/topics', { name: uniq('nope') }], ['GET', `/v1/topics/${topic}`, undefined],
      ['PATCH', `/v1/topics/${topic}`, { retentionHours: 1 }], ['DELETE', `/v1/topics/${topic}`, undefined], ['PUT', `/v1/groups/${group}`, {}],
      ['GET', `/v1/groups/${group}`, undefined], ['GET', '/v1/tokens', undefined], ['POST', '/v1/tokens', { name: 'x', permissions: [{ resource: 'topic:*', actions: ['ADMIN'] }] }],
      ['GET', '/v1/cluster', undefined],
    ];

    // 401: none, wrong, or malformed
    for (const token of [null, 'wrong', `${pub}x`, pub.slice(0, -1), 'emq_', ADMIN.toLowerCase()]) {
      expectError(await produce(token), 401, 'UNAUTHORIZED');
      expectError(await receive(token), 401, 'UNAUTHORIZED');
      for (const [m, p, b] of adminCalls) expectError(await api.req(m, p, b, { token }), 401, 'UNAUTHORIZED');
    }
    // 403: valid, without the permission
    expectError(await produce(sub), 403, 'FORBIDDEN');
    expectError(await produce(elsewhere), 403, 'FORBIDDEN');
    expectError(await receive(pub), 403, 'FORBIDDEN');
    expect(expectError(await receive(subTopicOnly), 403, 'FORBIDDEN')).toContain(`group:${group}`);
    expectError(await api.post(`${sp}/ack`, { receiptHandles: ['x'] }, { token: pub }), 403, 'FORBIDDEN');
    for (const token of [pub, sub, elsewhere]) {
      for (const [m, p, b] of adminCalls) expectError(await api.req(m, p, b, { token }), 403, 'FORBIDDEN');
    }
    // none of it stored anything; the permitted calls work
    expect(await api.stored(topic)).toBe(0);
    expectError(await api.get(`/v1/groups/${group}`), 404, 'GROUP_NOT_FOUND');
    expect((await produce(pub)).status).toBe(201);
    const got = await receive(sub);
    expect(got.status, got.text).toBe(200);
    expect(got.body.messages).toHaveLength(1);
    expect((await api.post(`${sp}/ack`, { receiptHandles: [got.body.messages[0].receiptHandle] }, { token: sub })).body.results[0].status).toBe('OK');

    // the WebSocket takes ?token=
    const refused = async (token: string | undefined) => {
      const e = await PushClient.connect(ctx.server.url, topic, group, { consumerId: 'w', ...(token !== undefined ? { token } : {}) }).then(
        (c) => { void c.close(); return null; }, (x: unknown) => x);
      expect(e).toBeInstanceOf(UpgradeRefused);
      return e as UpgradeRefused;
    };
    expect((await refused(undefined)).status).toBe(401);
    expect((await refused('wrong')).status).toBe(401);
    const forbidden = await refused(pub);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('FORBIDDEN');
    const w = await PushClient.connect(ctx.server.url, topic, group, { consumerId: 'w', token: sub });
    expect((await produce(pub)).status).toBe(201);
    await w.untilCount(1);
    w.ack(w.messages);
    await w.close();

    // revoked: refused at once, over HTTP and on a new WebSocket
    expect((await api.del(`/v1/tokens/${subName}`)).status).toBe(204);
    expectError(await receive(sub), 401, 'UNAUTHORIZED');
    expect((await refused(sub)).status).toBe(401);
    expect((await receive(elsewhere)).status).toBe(403); // the others are untouched
    expect((await produce(pub)).status).toBe(201);
  }, 120_000);
});

// ---- overload ---------------------------------------------------------------------------------------

describe('overload', () => {
  it('a queue holding 1000 long polls answers the next ones 429 OVERLOADED with Retry-After, at once', async () => {
    const topic = uniq('busy');
    const group = uniq('g');
    await api.createTopic(topic, { queues: 1 });
    const url = `${ctx.server.url}/v1/topics/${topic}/subscriptions/${group}/receive`;
    // the group exists before the storm (its creation is not what is measured)
    expect((await api.post(`/v1/topics/${topic}/subscriptions/${group}/receive`, {})).body.messages).toEqual([]);
    const poll = async () => {
      const t0 = Date.now();
      const r = await fetch(url, {
        method: 'POST', headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ waitMs: 5000 }), signal: AbortSignal.timeout(30_000),
      });
      return { status: r.status, retryAfter: r.headers.get('Retry-After'), body: await r.json() as Json, ms: Date.now() - t0 };
    };
    const all = await Promise.all(Array.from({ length: 1001 + 49 }, () => poll()));
    const counts = all.reduce<Record<number, number>>((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {});
    const over = all.filter((r) => r.status === 429);
    expect(over.length, JSON.stringify(counts)).toBeGreaterThanOrEqual(1);
    // every other one is an ordinary empty answer after its wait: nothing timed out or failed
    const waited = all.filter((x) => x.status !== 429);
    for (const r of waited) expect([r.status, r.body]).toEqual([200, { messages: [] }]);
    // an overloaded queue answers at once instead of making the client wait: every 429 came
    // before the first long poll ended
    const firstPollEnd = Math.min(...waited.map((r) => r.ms));
    expect(firstPollEnd).toBeGreaterThanOrEqual(4500);
    for (const r of over) {
      expect(r.body.error.code).toBe('OVERLOADED');
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.ms).toBeLessThan(firstPollEnd);
    }
    // the queue still works afterwards
    await api.produce(topic, { body: 'after the storm' });
    expect((await api.receive(topic, group)).map((m) => m.body)).toEqual(['after the storm']);
    console.log(`overload: ${JSON.stringify(counts)}, 429s within ${Math.max(...over.map((r) => r.ms))} ms, polls ended after ${firstPollEnd} ms`);
  }, 90_000);
});

