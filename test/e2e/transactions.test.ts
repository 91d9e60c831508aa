/**
 * Transactional (half) messages against a real `wrangler dev`, with a real HTTP check server on
 * 127.0.0.1 (node:http) that the broker calls back. Each transaction gets its own check URL,
 * `/answers/<a>,<b>,...`: check number k (the request's `checkTimes`) gets the k-th answer (the
 * last one repeats). Answers: COMMIT, ROLLBACK, UNKNOWN (as JSON), GARBAGE (text that is not
 * JSON), LOWER (`{"state":"commit"}`), HUGE (a valid COMMIT padded past 4 KiB), E500 (HTTP 500
 * whose body says ROLLBACK), HANG (no answer until after the broker's 5 s timeout, then a late
 * ROLLBACK). A broker must take every one but COMMIT / ROLLBACK as UNKNOWN.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, expectError, sleep, uniq, type Json } from './client';
import { freePort, useServer } from './server';
import { eventually } from './ws-client';

const ctx = useServer();
let api: Api;

type Answer = 'COMMIT' | 'ROLLBACK' | 'UNKNOWN' | 'GARBAGE' | 'LOWER' | 'HUGE' | 'E500' | 'HANG';

interface Check { transactionId: string; body: Json; contentType: string | undefined; at: number; answer: Answer }

/** The producer's check-back endpoint. */
class CheckServer {
  readonly checks: Check[] = [];
  private server: Server | null = null;
  private sockets = new Set<Socket>();
  private hung = new Set<ServerResponse>();

  constructor(readonly port: number) {}

  get base(): string { return `http://127.0.0.1:${this.port}`; }
  url(...answers: Answer[]): string { return `${this.base}/answers/${answers.join(',')}`; }
  of(transactionId: string): Check[] { return this.checks.filter((c) => c.transactionId === transactionId); }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(this.port, '127.0.0.1', () => resolve()); });
    this.server = server;
  }

  /** Stops listening and drops every connection (a producer that went away). */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    for (const r of this.hung) r.destroy();
    for (const so of this.sockets) so.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => { text += d; });
    req.on('end', () => {
      let body: Json;
      try { body = JSON.parse(text); } catch { body = { unparsed: text }; }
      const answers = decodeURIComponent(new URL(req.url ?? '/', this.base).pathname.replace(/^\/answers\//, '')).split(',') as Answer[];
      const k = Math.max(1, Number(body.checkTimes) || 1);
      const answer = answers[Math.min(k, answers.length) - 1] ?? 'UNKNOWN';
      this.checks.push({ transactionId: body.transactionId, body, contentType: req.headers['content-type'], at: Date.now(), answer });
      if (req.method !== 'POST') { res.writeHead(405).end(); return; }
      const json = (status: number, v: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      };
      switch (answer) {
        case 'COMMIT': case 'ROLLBACK': case 'UNKNOWN': json(200, { state: answer }); break;
        case 'GARBAGE': res.writeHead(200, { 'content-type': 'text/plain' }).end('COMMIT, I guess <html>'); break;
        case 'LOWER': json(200, { state: 'commit' }); break;
        case 'HUGE': json(200, { state: 'COMMIT', pad: 'x'.repeat(5000) }); break;
        case 'E500': json(500, { state: 'ROLLBACK' }); break;
        case 'HANG': {
          // answers only after the broker gave up (5 s): that late ROLLBACK must not count
          this.hung.add(res);
          setTimeout(() => { this.hung.delete(res); if (!res.destroyed) json(200, { state: 'ROLLBACK' }); }, 7000);
          break;
        }
      }
    });
  }
}

let checker: CheckServer;
beforeAll(async () => {
  api = ctx.api;
  checker = new CheckServer(await freePort());
  await checker.start();
});
afterAll(async () => { await checker?.stop(); });

const txPath = (topic: string) => `/v1/topics/${enc(topic)}/transactions`;
const msgPath = (topic: string, id: string) => `/v1/topics/${enc(topic)}/messages/${id}`;

async function begin(topic: string, messages: Json[], opts: Json = {}): Promise<{ transactionId: string; messages: { messageId: string }[] }> {
  const r = await api.post(txPath(topic), { messages, ...opts });
  expect(r.status, r.text).toBe(201);
  expect(Object.keys(r.body).sort()).toEqual(['messages', 'transactionId']);
  expect(r.body.messages).toHaveLength(messages.length);
  return r.body;
}

function decide(topic: string, txId: string, verb: 'commit' | 'rollback') {
  return api.post(`${txPath(topic)}/${txId}/${verb}`);
}

async function expectDecided(topic: string, txId: string, verb: 'commit' | 'rollback') {
  const r = await decide(topic, txId, verb);
  expect(r.status, r.text).toBe(200);
  expect(r.body).toEqual({ transactionId: txId, state: verb === 'commit' ? 'COMMITTED' : 'ROLLED_BACK' });
}

/** The transaction's state as the producer sees it: commit is idempotent once committed, 409 once rolled back. */
async function stateOf(topic: string, tx: { messages: { messageId: string }[] }): Promise<'HALF' | 'STORED' | 'GONE'> {
  const r = await api.get(msgPath(topic, tx.messages[0].messageId));
  if (r.status === 404) return 'GONE';
  expect(r.status, r.text).toBe(200);
  return r.body.state;
}

async function settled(topic: string, tx: { messages: { messageId: string }[] }, ms = 20_000) {
  return eventually(() => stateOf(topic, tx), (s) => s !== 'HALF', 'the transaction to be resolved', ms, 100);
}

/** Everything the group can get now (and for `waitMs` more), acked. */
async function drainAll(topic: string, group: string, waitMs = 1000): Promise<Json[]> {
  const all: Json[] = [];
  for (;;) {
    const got = await api.receive(topic, group, { waitMs: all.length ? 0 : waitMs });
    if (!got.length) return all;
    expect(await api.ack(topic, group, got.map((m) => m.receiptHandle))).toEqual(got.map(() => 'OK'));
    all.push(...got);
  }
}

async function freshTopic(prefix: string, cfg: Json = {}) {
  const topic = uniq(prefix);
  const group = uniq('g');
  await api.createTopic(topic, { queues: 4, ...cfg });
  await api.putGroup(group);
  return { topic, group };
}

describe('producer decisions', () => {
  it('keeps half messages invisible (HALF, queueOffset null, one queue); commit delivers them all once', async () => {
    const { topic, group } = await freshTopic('tx-commit', { type: 'TRANSACTION' });
    const tx = await begin(topic, [{ body: 'a', tag: 't', keys: ['tk'] }, { body: { n: 2 } }, { body: 'c' }, { body: 'd' }, { body: 'e' }]);
    const halves = await Promise.all(tx.messages.map(async (m) => (await api.get(msgPath(topic, m.messageId))).body));
    expect(halves[0]).toMatchObject({ state: 'HALF', queueOffset: null, body: 'a', tag: 't', keys: ['tk'], topic });
    expect(new Set(halves.map((h) => h.queueId)).size).toBe(1);
    expect(await api.receive(topic, group, { waitMs: 500 })).toEqual([]);
    expect((await api.topic(topic)).messages).toBe(0);
    // a half message is not recalled: its transaction decides
    expectError(await api.del(msgPath(topic, tx.messages[0].messageId)), 409, 'CONFLICT');

    await expectDecided(topic, tx.transactionId, 'commit');
    const got = await drainAll(topic, group);
    expect(got.map((m) => m.body)).toEqual(['a', { n: 2 }, 'c', 'd', 'e']);
    expect(got.map((m) => m.messageId)).toEqual(tx.messages.map((m) => m.messageId));
    const offs = got.map((m) => m.queueOffset);
    expect(offs).toEqual(offs.map((_, i) => offs[0] + i)); // contiguous in one queue
    expect(new Set(got.map((m) => m.queueId))).toEqual(new Set([halves[0].queueId]));
    expect((await api.get(msgPath(topic, tx.messages[4].messageId))).body).toMatchObject({ state: 'STORED', queueOffset: offs[4] });

    // the same decision again: same answer, nothing appended; a different one: 409
    await expectDecided(topic, tx.transactionId, 'commit');
    expectError(await decide(topic, tx.transactionId, 'rollback'), 409, 'TRANSACTION_RESOLVED');
    expect(await drainAll(topic, group, 500)).toEqual([]);
    expect((await api.topic(topic)).messages).toBe(5);
  });

  it('rollback deletes the half messages; commit afterwards is 409', async () => {
    const { topic, group } = await freshTopic('tx-rollback');
    const tx = await begin(topic, [{ body: 'x' }, { body: 'y' }]);
    await expectDecided(topic, tx.transactionId, 'rollback');
    for (const m of tx.messages) expectError(await api.get(msgPath(topic, m.messageId)), 404, 'MESSAGE_NOT_FOUND');
    await expectDecided(topic, tx.transactionId, 'rollback');
    expectError(await decide(topic, tx.transactionId, 'commit'), 409, 'TRANSACTION_RESOLVED');
    expect(await drainAll(topic, group, 1000)).toEqual([]);
    expect((await api.topic(topic)).messages).toBe(0);
  });

  it('puts a transaction with a messageGroup in that group\'s queue, and answers unknown ids with 404', async () => {
    const { topic } = await freshTopic('tx-ids');
    const tx = await begin(topic, [{ body: 'f1', messageGroup: 'order-7' }, { body: 'f2', messageGroup: 'order-7' }]);
    const [p] = await api.produce(topic, { body: 'f0', messageGroup: 'order-7' });
    const h = (await api.get(msgPath(topic, tx.messages[0].messageId))).body;
    expect(h.queueId).toBe(p.queueId);
    await expectDecided(topic, tx.transactionId, 'commit');
    // a transaction id is not a message id, and the other way round
    expectError(await api.get(msgPath(topic, tx.transactionId)), 404, 'MESSAGE_NOT_FOUND');
    expectError(await decide(topic, tx.messages[0].messageId, 'commit'), 404, 'TRANSACTION_NOT_FOUND');
    expectError(await decide(topic, 'not-an-id', 'commit'), 404, 'TRANSACTION_NOT_FOUND');
    const unknown = tx.transactionId.slice(0, -4) + 'FFFF';
    expectError(await decide(topic, unknown, 'rollback'), 404, 'TRANSACTION_NOT_FOUND');
    expectError(await decide(uniq('no-topic'), tx.transactionId, 'commit'), 404, 'TOPIC_NOT_FOUND');
  });

  it('validates the request; typed topics take only their kind of message', async () => {
    const { topic } = await freshTopic('tx-types', { type: 'TRANSACTION' });
    expectError(await api.post(`/v1/topics/${topic}/messages`, { body: 'plain' }), 400, 'MESSAGE_TYPE_MISMATCH');
    expectError(await api.post(txPath(topic), { messages: [{ body: 'x', delayMs: 1000 }] }), 400, 'MESSAGE_TYPE_MISMATCH');
    const normal = uniq('tx-normal');
    await api.createTopic(normal, { queues: 1, type: 'NORMAL' });
    expectError(await api.post(txPath(normal), { messages: [{ body: 'x' }] }), 400, 'MESSAGE_TYPE_MISMATCH');
    const fifo = uniq('tx-fifo');
    await api.createTopic(fifo, { queues: 1, type: 'FIFO' });
    expectError(await api.post(txPath(fifo), { messages: [{ body: 'x', messageGroup: 'g' }] }), 400, 'MESSAGE_TYPE_MISMATCH');
    for (const bad of [
      { messages: [] }, { messages: [{ body: 'x' }], checkUrl: 'ftp://127.0.0.1/x' }, { messages: [{ body: 'x' }], checkUrl: 'not a url' },
      { messages: [{ body: 'x' }], checkIntervalMs: 999 }, { messages: [{ body: 'x' }], maxChecks: 0 }, { messages: [{ body: 'x' }], maxChecks: 101 },
      { messages: [{ body: 'x' }], timeoutMs: 999 }, { messages: [{ body: 'x' }], checkAfterMs: -1 }, { messages: [{ body: 'x' }], extra: 1 },
    ]) {
      expectError(await api.post(txPath(topic), bad), 400, 'BAD_REQUEST');
    }
    expectError(await api.post(txPath(uniq('nope')), { messages: [{ body: 'x' }] }), 404, 'TOPIC_NOT_FOUND');
    expect((await api.topic(topic)).messages).toBe(0);
  });
});

describe('without checkUrl', () => {
  it('rolls back an unresolved transaction after timeoutMs', async () => {
    const { topic, group } = await freshTopic('tx-timeout');
    const t0 = Date.now();
    const tx = await begin(topic, [{ body: 'never' }], { timeoutMs: 1500, checkAfterMs: 0 });
    await sleep(800);
    expect(await stateOf(topic, tx)).toBe('HALF'); // checkAfterMs does not apply without a checkUrl
    expect(await settled(topic, tx, 10_000)).toBe('GONE');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expectError(await decide(topic, tx.transactionId, 'commit'), 409, 'TRANSACTION_RESOLVED');
    await expectDecided(topic, tx.transactionId, 'rollback');
    expect(await drainAll(topic, group)).toEqual([]);
  });
});

describe('check-back to checkUrl', () => {
  const FAST = { checkAfterMs: 300, checkIntervalMs: 1000 };

  it('asks after checkAfterMs with {topic, transactionId, messageIds, checkTimes} and commits on COMMIT', async () => {
    const { topic, group } = await freshTopic('tx-chk-commit');
    const t0 = Date.now();
    const tx = await begin(topic, [{ body: 'c1' }, { body: 'c2' }], { checkUrl: checker.url('COMMIT'), ...FAST, maxChecks: 3 });
    expect(await settled(topic, tx)).toBe('STORED');
    const checks = checker.of(tx.transactionId);
    expect(checks).toHaveLength(1);
    expect(checks[0].at - t0).toBeGreaterThanOrEqual(300);
    expect(checks[0].contentType).toMatch(/^application\/json/);
    expect(checks[0].body).toEqual({ topic, transactionId: tx.transactionId, messageIds: tx.messages.map((m) => m.messageId), checkTimes: 1 });
    const got = await drainAll(topic, group);
    expect(got.map((m) => m.body)).toEqual(['c1', 'c2']);
    await expectDecided(topic, tx.transactionId, 'commit');
    expectError(await decide(topic, tx.transactionId, 'rollback'), 409, 'TRANSACTION_RESOLVED');
    await sleep(1500);
    expect(checker.of(tx.transactionId)).toHaveLength(1); // resolved: never asked again
    expect(await drainAll(topic, group, 300)).toEqual([]);
  });

  it('rolls back on ROLLBACK', async () => {
    const { topic, group } = await freshTopic('tx-chk-rollback');
    const tx = await begin(topic, [{ body: 'r1' }], { checkUrl: checker.url('ROLLBACK'), ...FAST });
    expect(await settled(topic, tx)).toBe('GONE');
    expect(checker.of(tx.transactionId)).toHaveLength(1);
    expectError(await decide(topic, tx.transactionId, 'commit'), 409, 'TRANSACTION_RESOLVED');
    await expectDecided(topic, tx.transactionId, 'rollback');
    expect(await drainAll(topic, group)).toEqual([]);
  });

  it('asks again every checkIntervalMs after UNKNOWN, then commits once', async () => {
    const { topic, group } = await freshTopic('tx-chk-unknown');
    const tx = await begin(topic, [{ body: 'u1' }, { body: 'u2' }], { checkUrl: checker.url('UNKNOWN', 'UNKNOWN', 'COMMIT'), ...FAST, maxChecks: 5 });
    expect(await settled(topic, tx)).toBe('STORED');
    const checks = checker.of(tx.transactionId);
    expect(checks.map((c) => c.body.checkTimes)).toEqual([1, 2, 3]);
    for (let i = 1; i < checks.length; i++) expect(checks[i].at - checks[i - 1].at).toBeGreaterThanOrEqual(1000 - 5);
    expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['u1', 'u2']);
    await sleep(1500);
    expect(checker.of(tx.transactionId)).toHaveLength(3);
    expect(await drainAll(topic, group, 300)).toEqual([]);
    expect((await api.topic(topic)).messages).toBe(2);
  });

  it('rolls back after maxChecks UNKNOWN answers', async () => {
    const { topic, group } = await freshTopic('tx-chk-max');
    const tx = await begin(topic, [{ body: 'm1' }], { checkUrl: checker.url('UNKNOWN'), ...FAST, maxChecks: 3 });
    expect(await settled(topic, tx)).toBe('GONE');
    expect(checker.of(tx.transactionId).map((c) => c.body.checkTimes)).toEqual([1, 2, 3]);
    await sleep(1500);
    expect(checker.of(tx.transactionId)).toHaveLength(3);
    expectError(await decide(topic, tx.transactionId, 'commit'), 409, 'TRANSACTION_RESOLVED');
    expect(await drainAll(topic, group)).toEqual([]);
  });

  it('takes garbage answers (not JSON, wrong case, over 4 KiB) as UNKNOWN: rolled back after maxChecks', async () => {
    const { topic, group } = await freshTopic('tx-chk-garbage');
    const tx = await begin(topic, [{ body: 'g1' }], { checkUrl: checker.url('GARBAGE', 'LOWER', 'HUGE'), ...FAST, maxChecks: 3 });
    expect(await settled(topic, tx)).toBe('GONE');
    expect(checker.of(tx.transactionId).map((c) => c.answer)).toEqual(['GARBAGE', 'LOWER', 'HUGE']);
    expect(await drainAll(topic, group)).toEqual([]);
  });

  it('takes a garbage answer as UNKNOWN, not as a decision: a later COMMIT still commits', async () => {
    const { topic, group } = await freshTopic('tx-chk-garbage-commit');
    const tx = await begin(topic, [{ body: 'gc' }], { checkUrl: checker.url('GARBAGE', 'COMMIT'), ...FAST, maxChecks: 3 });
    expect(await settled(topic, tx)).toBe('STORED');
    expect(checker.of(tx.transactionId).map((c) => c.answer)).toEqual(['GARBAGE', 'COMMIT']);
    expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['gc']);
  });

  it('takes HTTP 500 as UNKNOWN even when its body says ROLLBACK', async () => {
    const { topic, group } = await freshTopic('tx-chk-500');
    const tx = await begin(topic, [{ body: 'e1' }], { checkUrl: checker.url('E500', 'COMMIT'), ...FAST, maxChecks: 3 });
    expect(await settled(topic, tx)).toBe('STORED');
    expect(checker.of(tx.transactionId).map((c) => c.body.checkTimes)).toEqual([1, 2]);
    expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['e1']);
  });

  it('takes a check that does not answer in time as UNKNOWN; its late answer changes nothing', async () => {
    const { topic, group } = await freshTopic('tx-chk-hang');
    const t0 = Date.now();
    const tx = await begin(topic, [{ body: 'h1' }, { body: 'h2' }], { checkUrl: checker.url('HANG', 'COMMIT'), ...FAST, maxChecks: 3 });
    expect(await settled(topic, tx, 30_000)).toBe('STORED');
    const checks = checker.of(tx.transactionId);
    expect(checks.map((c) => c.answer)).toEqual(['HANG', 'COMMIT']);
    // the second check came after the first timed out (5 s) and one more interval
    expect(checks[1].at - checks[0].at).toBeGreaterThanOrEqual(5000);
    // wait for the late ROLLBACK of the hung check to arrive (7 s after it was asked): ignored
    await sleep(Math.max(0, checks[0].at + 7500 - Date.now()));
    expect(await stateOf(topic, tx)).toBe('STORED');
    expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['h1', 'h2']);
    await expectDecided(topic, tx.transactionId, 'commit');
    expect(checker.of(tx.transactionId)).toHaveLength(2);
    expect(Date.now() - t0).toBeGreaterThan(6000);
  }, 60_000);

  it('does not hold up the queue while checks hang', async () => {
    const { topic, group } = await freshTopic('tx-chk-hol', { queues: 1 });
    const t0 = Date.now();
    const first = await begin(topic, [{ body: 'h0' }], { checkUrl: checker.url('HANG'), checkAfterMs: 200, maxChecks: 1 });
    await eventually(async () => checker.of(first.transactionId).length, (n) => n === 1, 'the first check', 10_000, 50);
    // while that check hangs, three more come due, and are asked at once
    const more = [];
    for (let i = 1; i <= 3; i++) more.push(await begin(topic, [{ body: `h${i}` }], { checkUrl: checker.url('HANG'), checkAfterMs: 0, maxChecks: 1 }));
    const at = t0 + 7000; // due while the three hang
    const [s] = await api.produce(topic, { body: 'scheduled', deliverAt: at });
    const got = await api.receiveN(topic, group, 1, 30_000);
    const late = Date.now() - at;
    expect(got.map((m) => m.messageId)).toEqual([s.messageId]);
    // check-backs run beside the alarm: four hanging ones (5 s each) delay the scheduled message by
    // nothing (held in the alarm, it was late by up to one timeout per pass)
    expect(late, 'lateness of the scheduled message (ms)').toBeLessThan(1500);
    for (const tx of [first, ...more]) {
      expect(await settled(topic, tx)).toBe('GONE');
      expect(checker.of(tx.transactionId)).toHaveLength(1);
    }
    await api.ack(topic, group, got.map((m) => m.receiptHandle));
    expect(await drainAll(topic, group, 500)).toEqual([]);
  }, 60_000);

  it('counts a check server that is down as UNKNOWN, and commits once it is back', async () => {
    const { topic, group } = await freshTopic('tx-chk-down');
    const late = new CheckServer(await freePort()); // not listening yet
    try {
      const tx = await begin(topic, [{ body: 'd1' }], { checkUrl: late.url('COMMIT'), checkAfterMs: 200, checkIntervalMs: 2500, maxChecks: 4 });
      // the first check (at ~200 ms) finds nobody; the second is 2.5 s later
      await sleep(1200);
      expect(await stateOf(topic, tx)).toBe('HALF');
      await late.start();
      expect(await settled(topic, tx)).toBe('STORED');
      // the check it got was the broker's second: the failed one counted
      expect(late.of(tx.transactionId).map((c) => c.body.checkTimes)).toEqual([2]);
      expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['d1']);
    } finally {
      await late.stop();
    }
  });

  it('rolls back when the check server stays down for maxChecks checks', async () => {
    const { topic, group } = await freshTopic('tx-chk-down-max');
    const nobody = `http://127.0.0.1:${await freePort()}/check`;
    const t0 = Date.now();
    const tx = await begin(topic, [{ body: 'x' }], { checkUrl: nobody, ...FAST, maxChecks: 2 });
    expect(await settled(topic, tx)).toBe('GONE');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1300); // check 1 at 300 ms, check 2 one interval later
    expectError(await decide(topic, tx.transactionId, 'commit'), 409, 'TRANSACTION_RESOLVED');
    expect(await drainAll(topic, group)).toEqual([]);
  });

  it('stops checking once the producer decides between checks', async () => {
    const { topic, group } = await freshTopic('tx-chk-producer');
    const tx = await begin(topic, [{ body: 'p1' }], { checkUrl: checker.url('UNKNOWN'), ...FAST, maxChecks: 10 });
    await eventually(async () => checker.of(tx.transactionId).length, (n) => n >= 1, 'the first check', 10_000, 50);
    await expectDecided(topic, tx.transactionId, 'commit');
    const n = checker.of(tx.transactionId).length;
    await sleep(2500);
    expect(checker.of(tx.transactionId)).toHaveLength(n);
    expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['p1']);
    expect(await drainAll(topic, group, 300)).toEqual([]);
  });

  it('resolves many transactions of one queue by their own answers, none lost or duplicated', async () => {
    const { topic, group } = await freshTopic('tx-chk-many', { queues: 1 });
    const plan: [Answer[], 'STORED' | 'GONE'][] = [
      [['COMMIT'], 'STORED'], [['ROLLBACK'], 'GONE'], [['UNKNOWN', 'COMMIT'], 'STORED'], [['GARBAGE', 'ROLLBACK'], 'GONE'],
      [['E500', 'COMMIT'], 'STORED'], [['UNKNOWN'], 'GONE'], [['LOWER', 'COMMIT'], 'STORED'], [['COMMIT'], 'STORED'],
    ];
    const txs = [];
    for (const [i, [answers]] of plan.entries()) {
      txs.push(await begin(topic, [{ body: `t${i}a` }, { body: `t${i}b` }], { checkUrl: checker.url(...answers), ...FAST, maxChecks: 2 }));
    }
    for (const [i, tx] of txs.entries()) expect(await settled(topic, tx), `transaction ${i}`).toBe(plan[i][1]);
    const got = await drainAll(topic, group);
    const want = plan.flatMap(([, s], i) => (s === 'STORED' ? [`t${i}a`, `t${i}b`] : []));
    expect(got.map((m) => m.body).sort()).toEqual(want.sort());
    // each transaction's messages are adjacent in the log, in send order
    for (const [i, [, s]] of plan.entries()) {
      if (s !== 'STORED') continue;
      const a = got.find((m) => m.body === `t${i}a`)!, b = got.find((m) => m.body === `t${i}b`)!;
      expect(b.queueOffset).toBe(a.queueOffset + 1);
    }
    expect((await api.topic(topic)).messages).toBe(want.length);
  }, 60_000);
});

describe('across a restart', () => {
  it('keeps half messages through a SIGKILL restart; checks and timeouts due meanwhile run right after', async () => {
    const { topic, group } = await freshTopic('tx-restart', { queues: 2 });
    const t0 = Date.now();
    const open = await begin(topic, [{ body: 'o1' }, { body: 'o2' }], { timeoutMs: 600_000 });
    const checked = await begin(topic, [{ body: 'k1' }], { checkUrl: checker.url('COMMIT'), checkAfterMs: 2500, checkIntervalMs: 1000 });
    const timed = await begin(topic, [{ body: 't1' }], { timeoutMs: 2500 });
    await ctx.server.stop('SIGKILL');
    await sleep(Math.max(0, t0 + 3500 - Date.now()));
    expect(checker.of(checked.transactionId)).toEqual([]); // nobody asked while the server was down
    await ctx.server.restart();
    const upAt = Date.now();
    expect(await settled(topic, checked)).toBe('STORED');
    expect(await settled(topic, timed)).toBe('GONE');
    expect(checker.of(checked.transactionId)).toHaveLength(1);
    expect(checker.of(checked.transactionId)[0].at - upAt).toBeLessThan(5000);
    expect(await stateOf(topic, open)).toBe('HALF');
    expect(await drainAll(topic, group)).toHaveLength(1);
    await expectDecided(topic, open.transactionId, 'commit');
    expect((await drainAll(topic, group)).map((m) => m.body)).toEqual(['o1', 'o2']);
    expectError(await decide(topic, timed.transactionId, 'commit'), 409, 'TRANSACTION_RESOLVED');
    expect((await api.topic(topic)).messages).toBe(3);
  }, 90_000);
});
