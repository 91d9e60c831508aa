/** Shared fixtures of the in-workerd tests: routes, groups, messages and handles as the Worker builds them. */
import { env, runInDurableObject } from 'cloudflare:test';
import { afterAll, beforeAll } from 'vitest';
import type { Env } from '../../src/env';
import type { Failure } from '../../src/model/errors';
import { decodeReceiptHandle } from '../../src/model/ids';
import { prepare, type Outgoing } from '../../src/model/message';
import type { GroupConfig, MessageInput } from '../../src/model/schemas';
import type { Broker, ConsumerRef, HandleRef } from '../../src/objects/Broker';
import { broker, type QueueRoute, type TopicRoute } from '../../src/objects/names';
import { consumerRef } from '../../src/routes/subscriptions';

declare module 'cloudflare:test' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface ProvidedEnv extends Env {}
}

export const HOUR = 3_600_000;

let seq = 0;
/** A name no other test in this isolate has used (module caches outlive isolated storage). */
export const uniq = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(seq++).toString(36)}`;

export function topicRoute(name: string, over: Partial<TopicRoute> = {}): TopicRoute {
  return {
    name, queues: 1, type: 'MIXED', retentionHours: 72, maxMessageBytes: 4_194_304, dedupWindowMs: 600_000,
    createdAt: Date.now(), incarnation: 'ABCDEF01', ...over,
  };
}

export function queueRoute(name: string, over: Partial<TopicRoute> = {}, queueId = 0): QueueRoute {
  return { topic: topicRoute(name, over), queueId };
}

export function groupConfig(name: string, over: Partial<GroupConfig> = {}): GroupConfig {
  return {
    name, mode: 'CLUSTERING', consumeFrom: 'FIRST', maxRetries: 16, retryPolicy: { type: 'CUSTOMIZED' },
    invisibleMs: 30_000, createdAt: Date.now(), ...over,
  };
}

export function consumer(group: GroupConfig, consumerId: string | null = null): ConsumerRef {
  return consumerRef(group, consumerId);
}

export function brokerOf(r: QueueRoute): DurableObjectStub<Broker> {
  return broker(env, r.topic, r.queueId);
}

/** Messages as the Worker prepares them for a broker. */
export function outgoing(r: QueueRoute, inputs: (MessageInput | string)[], now = Date.now()): Outgoing[] {
  return inputs.map((m, i) => prepare(typeof m === 'string' ? { body: m } : m, r.topic, now, i));
}

/** Unwraps an RPC answer that may be a Failure. */
export function ok<T>(x: T): Exclude<T, Failure> {
  if (x && typeof x === 'object' && 'failure' in x) throw new Error(`unexpected failure: ${JSON.stringify(x)}`);
  return x as Exclude<T, Failure>;
}

/** The messages of a Broker's pull answer: their JSON text, which the Worker splices into its reply. */
export function received(r: { n: number; text: string } | Failure): unknown[] {
  const { n, text } = ok(r);
  const messages = JSON.parse(`[${text}]`) as unknown[];
  if (messages.length !== n) throw new Error(`the answer says ${n} messages and holds ${messages.length}`);
  return messages;
}

export function handleOf(receiptHandle: string): HandleRef {
  const d = decodeReceiptHandle(receiptHandle);
  if (!d) throw new Error(`not a receipt handle: ${receiptHandle}`);
  return { leaseId: d.leaseId, offset: d.offset, attempt: d.attempt, groupHash: d.groupHash };
}

/**
 * Runs SQL in a Broker's storage. A statement that writes (a test moving a deadline, say) is made
 * behind the object's back, so the object then reads again what it keeps in memory about storage,
 * as it does after a rollback.
 */
export function brokerSql<T extends Record<string, SqlStorageValue>>(stub: DurableObjectStub<Broker>, query: string, ...args: SqlStorageValue[]): Promise<T[]> {
  return runInDurableObject(stub, (i, state) => {
    const rows = state.storage.sql.exec<T>(query, ...args).toArray();
    if (!/^\s*SELECT\b/i.test(query)) (i as unknown as { reload(): void }).reload();
    return rows;
  });
}

/** A meta store over the broker's `meta` table, as Broker passes to CommitLog. */
export function sqlMeta(sql: SqlStorage) {
  return {
    get: (k: string) => sql.exec<{ v: string }>('SELECT v FROM meta WHERE k = ?', k).toArray()[0]?.v,
    set: (k: string, v: string) => { sql.exec('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)', k, v); },
  };
}

/** How much later than asked a held alarm is stored: no test runs that long. */
export const ALARM_HOLD_MS = 600_000;
/** When an alarm asked for `at` goes off once held (a time already past counts as now). */
export const heldUntil = (at: number | Date) => Math.max(Number(at), Date.now()) + ALARM_HOLD_MS;

/**
 * In the describe that calls it, alarms go off by themselves, on time (setup.ts holds them back
 * everywhere else). Each of its tests must end with none due soon (holdAlarms on its objects): an
 * alarm that fires after its test breaks isolated storage.
 */
export function alarmsOnTime(): void {
  const g = globalThis as { __alarmsOnTime?: boolean };
  beforeAll(() => { g.__alarmsOnTime = true; });
  afterAll(() => { g.__alarmsOnTime = false; });
}

/**
 * In an alarmsOnTime describe, makes one object's alarm fire only when a test runs it
 * (runDurableObjectAlarm), as setup.ts does for every object elsewhere: every alarm the object sets
 * is stored 10 minutes later than asked, and one already set is moved as far. The Broker's own idea
 * of when its alarm is due (`alarmAt`) is untouched; runDurableObjectAlarm runs any set alarm at once.
 */
export async function holdAlarms(stub: DurableObjectStub<Broker>): Promise<void> {
  await runInDurableObject(stub, async (_i, state) => {
    const storage = state.storage as DurableObjectStorage & { held?: boolean };
    if (storage.held) return;
    const real = storage.setAlarm.bind(storage);
    storage.setAlarm = (at: number | Date, opts?: DurableObjectSetAlarmOptions) =>
      real(heldUntil(at), opts);
    storage.held = true;
    const set = await storage.getAlarm();
    if (set !== null && set < Date.now() + ALARM_HOLD_MS) await real(set + ALARM_HOLD_MS);
  });
}

/** When the Broker itself believes its alarm is due. */
export function alarmAt(stub: DurableObjectStub<Broker>): Promise<number | null> {
  return runInDurableObject(stub, (i) => (i as unknown as { alarmAt: number | null }).alarmAt);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Closes a test's WebSocket and waits for the close to come back, so that the object has seen it
 * before the test ends: a close event delivered to an object after its test would reopen it while
 * isolated storage is copied (WebSockets are the runtime's, not the test's, and outlive it).
 */
export async function closeSocket(ws: WebSocket, code = 1000, reason = 'done'): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = new Promise<void>((r) => ws.addEventListener('close', () => r(), { once: true }));
  ws.close(code, reason);
  await Promise.race([closed, sleep(2000)]);
}
