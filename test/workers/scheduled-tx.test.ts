/**
 * Scheduled and transactional (half) messages in the Broker object, through its RPC methods.
 * Alarms only run when a test runs them (runDurableObjectAlarm; see setup.ts), and time is made to
 * pass by backdating `scheduled.due` / `txs.due` in the object's SQLite. A check server cannot run
 * inside workerd: here checks go to http://127.0.0.1:9/, which refuses at once (= UNKNOWN); the
 * answers COMMIT / ROLLBACK / garbage / timeouts are covered end to end (test/e2e/transactions.test.ts).
 */
import { runDurableObjectAlarm } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/model/errors';
import { decodeMessageId, IdKind } from '../../src/model/ids';
import { LIMITS } from '../../src/model/limits';
import { prepare } from '../../src/model/message';
import type { MessageInput, TopicConfig } from '../../src/model/schemas';
import type { Broker } from '../../src/objects/Broker';
import type { QueueRoute } from '../../src/objects/names';
import type { TxOpts } from '../../src/storage/transactions';
import {
  alarmAt, brokerOf, brokerSql, consumer, groupConfig, handleOf, ok, outgoing, queueRoute, received, topicRoute, uniq,
} from './helpers';

type Stub = DurableObjectStub<Broker>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

/** Nothing listens on port 9 (discard): a check there fails at once, which counts as UNKNOWN. */
const UNREACHABLE = 'http://127.0.0.1:9/';

/** Runs the held alarm, then waits for the check-backs it started (they run beside the alarm). */
async function alarm(stub: Stub): Promise<boolean> {
  const ran = await runDurableObjectAlarm(stub);
  await stub.checksSettled();
  return ran;
}
const DAY = 86_400_000;

async function setup(over: Partial<QueueRoute['topic']> = {}) {
  const route = queueRoute(uniq('sched'), over);
  const stub = brokerOf(route);
  return { route, stub };
}

async function produce(stub: Stub, route: QueueRoute, inputs: (MessageInput | string)[]) {
  return ok(await stub.produce(route, outgoing(route, inputs))).messages;
}

/** Half messages as the transactions route prepares them. */
function halves(route: QueueRoute, inputs: (MessageInput | string)[], now = Date.now()) {
  return inputs.map((m, i) => prepare(typeof m === 'string' ? { body: m } : m, route.topic, now, i, true));
}

const TX: TxOpts = { checkAfterMs: 6000, checkIntervalMs: 30_000, maxChecks: 15, timeoutMs: 60_000 };

async function prepareTx(stub: Stub, route: QueueRoute, inputs: (MessageInput | string)[], opts: Partial<TxOpts> = {}) {
  const r = ok(await stub.prepare(route, halves(route, inputs), { ...TX, ...opts }));
  const d = decodeMessageId(r.transactionId)!;
  expect(d).toMatchObject({ kind: IdKind.Tx, queueId: route.queueId, incarnation: route.topic.incarnation });
  return { ...r, seq: d.seq };
}

async function receive(stub: Stub, route: QueueRoute, group = 'g', max = 256) {
  return received(await stub.receive(route, consumer(groupConfig(group)), { max })) as unknown as Json[];
}

async function ackAll(stub: Stub, route: QueueRoute, ms: Json[], group = 'g') {
  return ok(await stub.ack(route, groupConfig(group), ms.map((m) => handleOf(m.receiptHandle)))).results;
}

/** A pending message by its id (as GET /v1/topics/{t}/messages/{id} asks). */
async function lookup(stub: Stub, route: QueueRoute, messageId: string) {
  const d = decodeMessageId(messageId)!;
  const where = d.kind === IdKind.Log ? { off: d.seq } : { seq: d.seq };
  return ok(await stub.getMessage(route, where)) as Json | null;
}

const seqOf = (messageId: string) => decodeMessageId(messageId)!.seq;

/** Makes every waiting scheduled message (or only those given) due a moment ago. */
async function makeDue(stub: Stub, ids?: string[]) {
  if (!ids) return brokerSql(stub, 'UPDATE scheduled SET due = ? WHERE state = 0', Date.now() - 1);
  for (const id of ids) await brokerSql(stub, 'UPDATE scheduled SET due = ? WHERE seq = ?', Date.now() - 1, seqOf(id));
  return [];
}

/** Makes an open transaction's next step (check or timeout) due a moment ago. */
async function txDue(stub: Stub, seq: number) {
  await brokerSql(stub, 'UPDATE txs SET due = ? WHERE id = ?', Date.now() - 1, seq);
}

async function txRow(stub: Stub, seq: number) {
  const [r] = await brokerSql<{ state: number; checks: number; due: number }>(stub, 'SELECT state, checks, due FROM txs WHERE id = ?', seq);
  return r;
}

async function status(stub: Stub, route: QueueRoute) {
  return ok(await stub.status(route));
}

// -------------------------------------------------------------------------------------------------

describe('scheduled messages', () => {
  it('keeps deliverAt and delayMs messages out of the queue until due: queueOffset null, state SCHEDULED', async () => {
    const { route, stub } = await setup();
    const t0 = Date.now();
    const at = t0 + 60_000;
    const [a, b, now] = await produce(stub, route, [
      { body: 'at', deliverAt: at, tag: 'x', keys: ['k'], properties: { p: '1' } }, { body: { n: 2 }, delayMs: 30_000 }, 'now',
    ]);
    for (const r of [a, b]) {
      expect(r.queueOffset).toBeNull();
      expect(decodeMessageId(r.messageId)).toMatchObject({ kind: IdKind.Pending, queueId: 0, incarnation: 'ABCDEF01' });
    }
    expect(now.queueOffset).toBe(0);
    expect(a.messageId).not.toBe(b.messageId);
    expect(await status(stub, route)).toMatchObject({ maxOffset: 1, scheduled: 2 });
    // the alarm is armed for the earliest due time (the delayMs one)
    const armed = await alarmAt(stub);
    expect(armed).toBeGreaterThanOrEqual(t0 + 30_000);
    expect(armed).toBeLessThanOrEqual(Date.now() + 30_000);

    const sa = await lookup(stub, route, a.messageId);
    expect(sa).toMatchObject({
      messageId: a.messageId, state: 'SCHEDULED', queueOffset: null, queueId: 0, body: 'at', tag: 'x', keys: ['k'],
      properties: { p: '1' }, deliverAt: at,
    });
    expect((await lookup(stub, route, b.messageId))!.deliverAt).toBeGreaterThanOrEqual(t0 + 30_000);

    expect((await receive(stub, route)).map((m) => m.body)).toEqual(['now']);
    await alarm(stub); // nothing is due yet: nothing moves
    expect(await status(stub, route)).toMatchObject({ maxOffset: 1, scheduled: 2 });
    expect(await receive(stub, route)).toEqual([]);
  });

  it('delivers due messages in due order with their ids, and the rest at their own time', async () => {
    const { route, stub } = await setup();
    const base = Date.now() + 3_600_000;
    // sent out of due order
    const sent = await produce(stub, route, [
      { body: 'c', deliverAt: base + 3000 }, { body: 'a', deliverAt: base + 1000 }, { body: 'late', deliverAt: base + DAY },
      { body: 'b', deliverAt: base + 2000 },
    ]);
    const byBody = Object.fromEntries(sent.map((r, i) => [['c', 'a', 'late', 'b'][i], r.messageId]));
    // make a, b, c due (keeping their order), not "late"
    for (const [k, i] of [['a', 3], ['b', 2], ['c', 1]] as const) {
      await brokerSql(stub, 'UPDATE scheduled SET due = ? WHERE seq = ?', Date.now() - 10 * i, seqOf(byBody[k]));
    }
    expect(await alarm(stub)).toBe(true);
    expect(await status(stub, route)).toMatchObject({ maxOffset: 3, scheduled: 1 });
    const got = await receive(stub, route);
    expect(got.map((m) => m.body)).toEqual(['a', 'b', 'c']);
    expect(got.map((m) => m.messageId)).toEqual([byBody.a, byBody.b, byBody.c]);
    expect(got.map((m) => m.queueOffset)).toEqual([0, 1, 2]);
    expect(got.every((m) => m.deliveryAttempt === 1)).toBe(true);
    expect(got[0].deliverAt).toBe(base + 1000);
    expect(await ackAll(stub, route, got)).toEqual(['OK', 'OK', 'OK']);

    // now found by either id as STORED, with its offset
    expect(await lookup(stub, route, byBody.b)).toMatchObject({ state: 'STORED', queueOffset: 1, body: 'b', messageId: byBody.b });
    expect(await lookup(stub, route, byBody.late)).toMatchObject({ state: 'SCHEDULED', queueOffset: null });
    // an alarm is still set, no later than the one still waiting (a lease deadline may come first)
    expect(await alarmAt(stub)).toBeLessThanOrEqual(base + DAY);

    await makeDue(stub);
    await alarm(stub);
    const last = await receive(stub, route);
    expect(last.map((m) => [m.body, m.messageId, m.queueOffset])).toEqual([['late', byBody.late, 3]]);
    // delivered once: a further alarm moves nothing
    await alarm(stub);
    expect(await status(stub, route)).toMatchObject({ maxOffset: 4, scheduled: 0 });
  });

  it('moves more than one alarm pass of due messages, each exactly once', async () => {
    const { route, stub } = await setup();
    const n = 2500; // the alarm moves 1000 per pass
    const base = Date.now() + 60_000;
    const sent: { messageId: string }[] = [];
    for (let i = 0; i < n; i += 500) {
      sent.push(...await produce(stub, route, Array.from({ length: 500 }, (_, k) => ({ body: `m${i + k}`, deliverAt: base + i + k }))));
    }
    expect(await status(stub, route)).toMatchObject({ scheduled: n, maxOffset: 0 });
    await brokerSql(stub, 'UPDATE scheduled SET due = due - ? WHERE state = 0', base - Date.now() + 5000);
    for (let i = 0; i < 10 && (await status(stub, route)).scheduled > 0; i++) await alarm(stub);
    expect(await status(stub, route)).toMatchObject({ scheduled: 0, maxOffset: n });
    const got: Json[] = [];
    for (;;) {
      const b = await receive(stub, route);
      if (!b.length) break;
      got.push(...b);
    }
    expect(got.map((m) => m.body)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
    expect(got.map((m) => m.messageId)).toEqual(sent.map((r) => r.messageId));
    expect(new Set(got.map((m) => m.queueOffset)).size).toBe(n);
  });

  it('recalls a message that is not yet due: never delivered, RECALLED, and 409 afterwards', async () => {
    const { route, stub } = await setup();
    const [keep, gone] = await produce(stub, route, [{ body: 'keep', delayMs: 60_000 }, { body: 'gone', delayMs: 60_000 }]);
    expect(ok(await stub.recall(route, seqOf(gone.messageId)))).toEqual({ recalled: true });
    expect(await lookup(stub, route, gone.messageId)).toMatchObject({ state: 'RECALLED', queueOffset: null, body: 'gone' });
    expect(await status(stub, route)).toMatchObject({ scheduled: 1 });
    const again = await stub.recall(route, seqOf(gone.messageId));
    expect(again).toMatchObject({ failure: { code: 'CONFLICT', message: expect.stringMatching(/already recalled/) } });

    await makeDue(stub);
    await alarm(stub);
    expect((await receive(stub, route)).map((m) => m.body)).toEqual(['keep']);
    expect(await lookup(stub, route, gone.messageId)).toMatchObject({ state: 'RECALLED' });
    // the delivered one can no longer be recalled
    const late = await stub.recall(route, seqOf(keep.messageId));
    expect(late).toMatchObject({ failure: { code: 'CONFLICT', message: expect.stringMatching(/delivered/) } });
    // an id that was never issued
    expect(await stub.recall(route, 999_999)).toMatchObject({ failure: { code: 'MESSAGE_NOT_FOUND' } });
  });

  it('does not recall a message whose time has come, even before the alarm moved it', async () => {
    const { route, stub } = await setup();
    const [m] = await produce(stub, route, [{ body: 'due', delayMs: 60_000 }]);
    await makeDue(stub);
    // due, but the (held) alarm has not run yet
    const r = await stub.recall(route, seqOf(m.messageId));
    expect(r).toMatchObject({ failure: { code: 'CONFLICT', message: expect.stringMatching(/due/) } });
    await alarm(stub);
    expect((await receive(stub, route)).map((x) => x.messageId)).toEqual([m.messageId]);
  });

  it('keeps scheduled, half and ordinary messages of one queue apart', async () => {
    const { route, stub } = await setup();
    const [s] = await produce(stub, route, [{ body: 's', delayMs: 60_000 }]);
    const tx = await prepareTx(stub, route, ['h1', 'h2']);
    await produce(stub, route, ['n']);
    expect(await status(stub, route)).toMatchObject({ scheduled: 1, maxOffset: 1 });
    await makeDue(stub);
    await alarm(stub);
    // the scheduled one came, the half ones did not (they are not "due" while open)
    expect((await receive(stub, route)).map((m) => m.body)).toEqual(['n', 's']);
    expect(await lookup(stub, route, tx.messages[0].messageId)).toMatchObject({ state: 'HALF' });
    // a half message cannot be recalled: its transaction decides
    expect(await stub.recall(route, seqOf(tx.messages[0].messageId)))
      .toMatchObject({ failure: { code: 'CONFLICT', message: expect.stringMatching(/transaction/) } });
    expect(await lookup(stub, route, s.messageId)).toMatchObject({ state: 'STORED', queueOffset: 1 });
  });

  it('accepts up to 365 days ahead and refuses more, deliverAt and delayMs alike', () => {
    const topic: TopicConfig = topicRoute('t');
    const now = Date.now();
    expect(prepare({ body: 'x', deliverAt: now + LIMITS.maxDelayMs }, topic, now).rec.da).toBe(now + LIMITS.maxDelayMs);
    expect(prepare({ body: 'x', delayMs: LIMITS.maxDelayMs }, topic, now).rec.da).toBe(now + LIMITS.maxDelayMs);
    expect(() => prepare({ body: 'x', deliverAt: now + LIMITS.maxDelayMs + 1 }, topic, now)).toThrow(ApiError);
    expect(() => prepare({ body: 'x', delayMs: 1, deliverAt: now + 5 }, topic, now)).toThrow(/exclusive/);
    // a time that has passed is an ordinary message
    expect(prepare({ body: 'x', deliverAt: now - 1 }, topic, now).rec.da).toBeUndefined();
    expect(prepare({ body: 'x', delayMs: 0 }, topic, now).rec.da).toBeUndefined();
    // typed topics
    const delay = topicRoute('d', { type: 'DELAY' });
    expect(() => prepare({ body: 'x' }, delay, now)).toThrow(/deliverAt or delayMs/);
    expect(prepare({ body: 'x', delayMs: 10 }, delay, now).rec.da).toBe(now + 10);
    const txTopic = topicRoute('tx', { type: 'TRANSACTION' });
    expect(() => prepare({ body: 'x' }, txTopic, now)).toThrow(/only transactional/);
    expect(() => prepare({ body: 'x', delayMs: 10 }, txTopic, now, '', true)).toThrow(ApiError);
    expect(prepare({ body: 'x' }, txTopic, now, '', true).rec.da).toBeUndefined();
    expect(() => prepare({ body: 'x', delayMs: 10 }, delay, now, '', true)).toThrow(/transactional|scheduled/);
  });

  it('a message 365 days ahead waits in the due-work table and arms the alarm for its time', async () => {
    const { route, stub } = await setup();
    const at = Date.now() + LIMITS.maxDelayMs - 1000;
    const [m] = await produce(stub, route, [{ body: 'next year', deliverAt: at }]);
    expect(await alarmAt(stub)).toBe(at);
    const [row] = await brokerSql<{ due: number; state: number }>(stub, 'SELECT due, state FROM scheduled WHERE seq = ?', seqOf(m.messageId));
    expect(row).toEqual({ due: at, state: 0 });
    await alarm(stub);
    expect(await status(stub, route)).toMatchObject({ scheduled: 1, maxOffset: 0 });
    expect(await alarmAt(stub)).toBe(at);
  });
});

// -------------------------------------------------------------------------------------------------

describe('transactions', () => {
  it('stores half messages invisibly in one queue; commit appends them all, in order, once', async () => {
    const { route, stub } = await setup();
    const tx = await prepareTx(stub, route, [{ body: 'h1', tag: 't', keys: ['k1'] }, { body: { n: 2 } }, 'h3']);
    expect(tx.messages).toHaveLength(3);
    for (const m of tx.messages) expect(decodeMessageId(m.messageId)).toMatchObject({ kind: IdKind.Pending, queueId: 0 });
    expect(await lookup(stub, route, tx.messages[0].messageId)).toMatchObject({ state: 'HALF', queueOffset: null, body: 'h1', tag: 't', keys: ['k1'] });
    expect(await status(stub, route)).toMatchObject({ maxOffset: 0, scheduled: 0 });
    await produce(stub, route, ['before']);
    expect((await receive(stub, route)).map((m) => m.body)).toEqual(['before']);
    await alarm(stub); // the transaction's check is not due: nothing changes
    expect(await receive(stub, route)).toEqual([]);

    expect(ok(await stub.resolve(route, tx.seq, 'COMMIT'))).toEqual({ state: 'COMMITTED' });
    const got = await receive(stub, route);
    expect(got.map((m) => m.body)).toEqual(['h1', { n: 2 }, 'h3']);
    expect(got.map((m) => m.messageId)).toEqual(tx.messages.map((m) => m.messageId));
    expect(got.map((m) => m.queueOffset)).toEqual([1, 2, 3]);
    expect(await lookup(stub, route, tx.messages[2].messageId)).toMatchObject({ state: 'STORED', queueOffset: 3 });

    // the same decision again answers the same and appends nothing; a different one is 409
    expect(ok(await stub.resolve(route, tx.seq, 'COMMIT'))).toEqual({ state: 'COMMITTED' });
    expect(await stub.resolve(route, tx.seq, 'ROLLBACK')).toMatchObject({ failure: { code: 'TRANSACTION_RESOLVED', message: expect.stringMatching(/committed/) } });
    expect(await status(stub, route)).toMatchObject({ maxOffset: 4 });
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 1 });
    // an alarm long after changes nothing (a committed transaction is never checked)
    await txDue(stub, tx.seq);
    await alarm(stub);
    expect(await status(stub, route)).toMatchObject({ maxOffset: 4 });
  });

  it('rollback deletes the half messages: never delivered, not found, commit is 409', async () => {
    const { route, stub } = await setup();
    const tx = await prepareTx(stub, route, ['r1', 'r2']);
    expect(ok(await stub.resolve(route, tx.seq, 'ROLLBACK'))).toEqual({ state: 'ROLLED_BACK' });
    expect(await lookup(stub, route, tx.messages[0].messageId)).toBeNull();
    expect(await receive(stub, route)).toEqual([]);
    expect(ok(await stub.resolve(route, tx.seq, 'ROLLBACK'))).toEqual({ state: 'ROLLED_BACK' });
    expect(await stub.resolve(route, tx.seq, 'COMMIT')).toMatchObject({ failure: { code: 'TRANSACTION_RESOLVED', message: expect.stringMatching(/rolled back/) } });
    // a rolled-back message is not there to recall
    expect(await stub.recall(route, seqOf(tx.messages[0].messageId))).toMatchObject({ failure: { code: 'MESSAGE_NOT_FOUND' } });
    expect(await status(stub, route)).toMatchObject({ maxOffset: 0 });
    expect(await stub.resolve(route, 424242, 'COMMIT')).toMatchObject({ failure: { code: 'TRANSACTION_NOT_FOUND' } });
  });

  it('commits atomically around messages produced meanwhile: contiguous offsets', async () => {
    const { route, stub } = await setup();
    const a = await prepareTx(stub, route, ['a1', 'a2']);
    await produce(stub, route, ['x']);
    const b = await prepareTx(stub, route, ['b1', 'b2', 'b3']);
    await produce(stub, route, ['y']);
    ok(await stub.resolve(route, b.seq, 'COMMIT'));
    ok(await stub.resolve(route, a.seq, 'COMMIT'));
    expect((await receive(stub, route)).map((m) => m.body)).toEqual(['x', 'y', 'b1', 'b2', 'b3', 'a1', 'a2']);
  });

  it('wakes a long poll when a transaction commits', async () => {
    const { route, stub } = await setup();
    const tx = await prepareTx(stub, route, ['w']);
    const c = consumer(groupConfig('g'));
    const waiting = stub.waitAvailable(route, c, 10_000);
    ok(await stub.resolve(route, tx.seq, 'COMMIT'));
    expect(await waiting).toBe(true);
  });

  it('without checkUrl, rolls back once timeoutMs has passed (and not before)', async () => {
    const { route, stub } = await setup();
    const t0 = Date.now();
    const tx = await prepareTx(stub, route, ['t1', 't2'], { timeoutMs: 120_000, checkAfterMs: 1000 });
    const row = await txRow(stub, tx.seq);
    // no checkUrl: checkAfterMs does not apply, timeoutMs does
    expect(row.due).toBeGreaterThanOrEqual(t0 + 120_000);
    expect(row.due).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(await alarmAt(stub)).toBe(row.due);
    await alarm(stub);
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 0, checks: 0 });
    expect(await lookup(stub, route, tx.messages[0].messageId)).toMatchObject({ state: 'HALF' });

    await txDue(stub, tx.seq);
    await alarm(stub);
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 2, checks: 0 });
    expect(await lookup(stub, route, tx.messages[0].messageId)).toBeNull();
    expect(await stub.resolve(route, tx.seq, 'COMMIT')).toMatchObject({ failure: { code: 'TRANSACTION_RESOLVED' } });
    expect(await receive(stub, route)).toEqual([]);
    expect(await status(stub, route)).toMatchObject({ maxOffset: 0 });
  });

  it('counts an unreachable checkUrl as UNKNOWN, checks every interval, and rolls back after maxChecks', async () => {
    const { route, stub } = await setup();
    const t0 = Date.now();
    const tx = await prepareTx(stub, route, ['u1'], { checkUrl: UNREACHABLE, checkAfterMs: 5000, checkIntervalMs: 40_000, maxChecks: 3 });
    const first = await txRow(stub, tx.seq);
    expect(first.due).toBeGreaterThanOrEqual(t0 + 5000);
    expect(first.due).toBeLessThanOrEqual(Date.now() + 5000);

    for (let check = 1; check <= 2; check++) {
      await txDue(stub, tx.seq);
      const before = Date.now();
      await alarm(stub);
      const r = await txRow(stub, tx.seq);
      expect(r.state, `after check ${check}`).toBe(0);
      expect(r.checks).toBe(check);
      // the next check is one interval later
      expect(r.due).toBeGreaterThanOrEqual(before + 40_000);
      expect(r.due).toBeLessThanOrEqual(Date.now() + 40_000);
      expect(await alarmAt(stub)).toBe(r.due);
      expect(await lookup(stub, route, tx.messages[0].messageId)).toMatchObject({ state: 'HALF' });
    }
    // the third UNKNOWN is the last check: rolled back at once
    await txDue(stub, tx.seq);
    await alarm(stub);
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 2 });
    expect(await lookup(stub, route, tx.messages[0].messageId)).toBeNull();
    expect(await receive(stub, route)).toEqual([]);
    expect(await alarmAt(stub)).toBeNull();
  });

  it('a producer decision after failed checks wins; no further checks, nothing duplicated', async () => {
    const { route, stub } = await setup();
    const tx = await prepareTx(stub, route, ['c1', 'c2'], { checkUrl: UNREACHABLE, checkAfterMs: 1000, checkIntervalMs: 1000, maxChecks: 2 });
    await txDue(stub, tx.seq);
    await alarm(stub);
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 0, checks: 1 });
    expect(ok(await stub.resolve(route, tx.seq, 'COMMIT'))).toEqual({ state: 'COMMITTED' });
    // the check that was due would have been the last one (rollback): it must not run now
    await txDue(stub, tx.seq);
    await alarm(stub);
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 1, checks: 1 });
    const got = await receive(stub, route);
    expect(got.map((m) => m.body)).toEqual(['c1', 'c2']);
    expect(await ackAll(stub, route, got)).toEqual(['OK', 'OK']);
    await alarm(stub);
    expect(await receive(stub, route)).toEqual([]);
    expect(await status(stub, route)).toMatchObject({ maxOffset: 2 });
  });

  it('handles several due transactions in one alarm, each by its own rule', async () => {
    const { route, stub } = await setup();
    const timedOut = await prepareTx(stub, route, ['a']);
    const checked = await prepareTx(stub, route, ['b'], { checkUrl: UNREACHABLE, maxChecks: 5 });
    const lastCheck = await prepareTx(stub, route, ['c'], { checkUrl: UNREACHABLE, maxChecks: 1 });
    const notDue = await prepareTx(stub, route, ['d']);
    for (const t of [timedOut, checked, lastCheck]) await txDue(stub, t.seq);
    await alarm(stub);
    expect(await txRow(stub, timedOut.seq)).toMatchObject({ state: 2, checks: 0 });
    expect(await txRow(stub, checked.seq)).toMatchObject({ state: 0, checks: 1 });
    expect(await txRow(stub, lastCheck.seq)).toMatchObject({ state: 2 });
    expect(await txRow(stub, notDue.seq)).toMatchObject({ state: 0, checks: 0 });
    ok(await stub.resolve(route, notDue.seq, 'COMMIT'));
    expect((await receive(stub, route)).map((m) => m.body)).toEqual(['d']);
  });

  it('keeps scheduled messages on time while transactions are checked in the same alarm', async () => {
    const { route, stub } = await setup();
    const tx = await prepareTx(stub, route, ['half'], { checkUrl: UNREACHABLE, maxChecks: 3 });
    const [s] = await produce(stub, route, [{ body: 'sched', delayMs: 60_000 }]);
    await txDue(stub, tx.seq);
    await makeDue(stub);
    await alarm(stub);
    expect((await receive(stub, route)).map((m) => m.messageId)).toEqual([s.messageId]);
    expect(await txRow(stub, tx.seq)).toMatchObject({ state: 0, checks: 1 });
  });
});
