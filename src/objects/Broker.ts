/**
 * One queue of one topic: its commit log, the consume state of every group on it, scheduled
 * messages, and one alarm over all of their due work. The class is the host (concurrency,
 * alarm, long-poll waiters, cross-object calls); the storage modules hold the logic.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { ApiError, fail, isFailure, type Failure } from '../model/errors';
import { compileFilter, filterKey, parseFilterKey, type FilterSpec, type Predicate } from '../model/filter';
import { decodeReceiptHandle, encodeMessageId, encodeReceiptHandle, hash32, IdKind, logMessageIdEncoder, receiptHandleEncoder } from '../model/ids';
import type { BrokerControl, ClientFrame } from '../model/frames';
import { LIMITS } from '../model/limits';
import { deliveredEncoder, NO_DELIVERY, presentMessage, type Delivery } from '../model/delivered';
import { joinPacked, slicePacked, type Outgoing, type PackedRecords, type Rec } from '../model/message';
import type { ConsumeFrom, GroupConfig, ResetTarget } from '../model/schemas';
import { CommitLog, type LogEntry, type LogStatus } from '../storage/commitlog';
import { ConsumeState, type ConsumeConfig, type Item, type Taken } from '../storage/consume';
import { Dedup, type KeyHit } from '../storage/dedup';
import { Fifo } from '../storage/fifo';
import { KeyIndex } from '../storage/keys';
import { Meta } from '../storage/meta';
import { PushFilters } from '../storage/push-filters';
import { Resent } from '../storage/resent';
import { Stats } from '../storage/stats';
import { Trace, type TraceItem, type TraceType } from '../storage/trace';
import { PendingState, Schedule } from '../storage/schedule';
import { Transactions, TxState, type TxOpts } from '../storage/transactions';
import { BROKER_MIGRATIONS, migrate } from '../storage/schema';
import { SqlCost } from '../storage/sql-cost';
import { errorFrame, readClientFrame } from '../worker/client-frames';
import { ProduceChannel } from '../worker/produce-channel';
import { producedRun, storeOn } from '../worker/produce';
import { ClientCredit } from './client-credit';
import { GroupCommit, type Append } from './group-commit';
import { broker, dlqTopicName, nameServer, type QueueRoute, type TopicRoute } from './names';

export interface Produced { messageId: string; queueId: number; queueOffset: number | null; duplicate?: true }

/**
 * What an append stored: a run of offsets from `base` (its ids follow from them), or its messages'
 * results; `duplicate`: stored before, by an earlier request with the same idempotency key.
 */
export type Stored = { base: number; duplicate?: true } | { messages: Produced[] } | Failure;

/** A run of `n` records of a packed append sent under one idempotency key (or none), in order. */
export interface KeyRange { key?: string; n: number }

/** Who is consuming: the group's state key (the group, or group + consumer when broadcasting). */
export interface ConsumerRef { group: GroupConfig; key: string; consumerId: string | null }

export interface ReceiveOpts { max: number; invisibleMs?: number; filter?: FilterSpec | null }

export interface HandleRef { leaseId: number; offset: number; attempt: number; groupHash: number }

export type AckStatus = 'OK' | 'EXPIRED' | 'INVALID';

export interface QueueGroupStatus {
  queueId: number; brokerOffset: number; consumerOffset: number; lag: number; inflight: number; retrying: number;
}

export interface PullConsumer { consumerId: string; lastSeen: number }

/**
 * What the push route asks for when it opens a queue's push socket (src/routes/push.ts).
 * `budget` (the client's maxInflight): the socket is the client's own, served here end to end (a
 * topic of one queue); without it, the socket is a relay's upstream and the relay grants credit.
 */
export interface PushSubscription {
  route: QueueRoute; group: GroupConfig; key: string; consumerId: string; filter: FilterSpec | null; connId: string;
  budget?: number;
}

/**
 * Kept on each hibernatable socket (≤ 2 KB): all a woken object needs to serve it. A relay's
 * socket has `credit` (granted by the relay) and `hungry` (said so once); a client's own socket has
 * `budget`, and its credit is the budget less the handles out on it (`clientCredit`).
 */
interface SocketState {
  connId: string; key: string; group: string; consumerId: string; connectedAt: number; credit: number; hungry: boolean;
  budget?: number;
}

/** The attachment of a producer's socket held here (Broker.produceSocket). */
interface ProducerAttachment { produce: TopicRoute }

export interface PushConsumer { consumerId: string; connectedAt: number }

interface Waiter { key: string; resolve: (ready: boolean) => void; timer: ReturnType<typeof setTimeout> }

const RETRY_ALARM_MS = 5000;
/** A transaction check-back that has not answered by then counts as UNKNOWN. */
const CHECK_TIMEOUT_MS = 5000;
/** Trace is written behind: buffered events are flushed this long after the first of them... */
const TRACE_FLUSH_MS = 250;
/** ...or at once (next tick) when they name this many offsets. */
const TRACE_FLUSH_ITEMS = 10_000;
/**
 * Push acks are applied together, at most this long after they arrive: one commit (one fsync under
 * wrangler dev, one replicated write in production) for every ack frame of that stretch, not one
 * per frame. Acks still waiting when an object crashes are lost: those messages are delivered again
 * (at-least-once, as a consumer offset committed every few seconds is in RocketMQ and Kafka).
 */
const ACK_FLUSH_MS = 10; // env PUSH_ACK_FLUSH_MS overrides
/**
 * A push delivery's lease is written only once it has been out this long unacked (most acks come
 * within milliseconds, and a lease acked while held costs no row): the ack flush writes the older
 * ones, and each group's offset up to the first one still held. A crash delivers the held ones
 * again (at-least-once, as a consumer offset committed every few seconds is in RocketMQ and Kafka).
 */
const LEASE_HOLD_MS = 1000; // env PUSH_LEASE_HOLD_MS overrides
/** Long polls one queue holds at once; past that, receive answers 429 with Retry-After. */
const MAX_WAITERS = 1000;
/**
 * Appends a group commit joins into one segment row, up to this many characters of records: under
 * V8's large-object size (128 KB) as one-byte text, with the brackets (see joinPacked).
 */
const SEGMENT_JOIN_CHARS = 100_000;

export class Broker extends DurableObject<Env> {
  private sql: SqlStorage;
  private log!: CommitLog;
  private consume!: ConsumeState;
  private dedup!: Dedup;
  private schedule!: Schedule;
  private meta!: Meta;
  private pushFilters!: PushFilters;
  private resent!: Resent;
  private route: QueueRoute | null = null;
  private routeJson = '';
  private dropped = false;
  private alarmAt: number | null = null;
  private waiters = new Set<Waiter>();
  private filters = new Map<string, Predicate>();
  private socketFilters = new Map<string, Predicate>();
  /** messageId's encoder, and the route it was made for */
  private ids: ((off: number) => string) | null = null;
  private idsFor: QueueRoute | null = null;
  /** what each socket is (socketOf): a consumer's state, or a producer's channel, made from its attachment */
  private sockets = new WeakMap<WebSocket, SocketState | ProduceChannel | null>();
  /** the credit of the client sockets served here */
  private clientCredit = new ClientCredit((connId) => this.handlesOut(connId));
  private pullConsumers = new Map<string, Map<string, number>>();
  private flushing: Promise<void> | null = null;
  /** check-backs being asked, by transaction id (they run beside the alarm, not in it) */
  private checks = new Map<number, Promise<void>>();
  private fifo!: Fifo;
  private txs!: Transactions;
  private keys!: KeyIndex;
  private tracer!: Trace;
  private stats!: Stats;
  private lastActive = 0;
  private readonly startedAt = Date.now();
  /** after a failed dead-letter transfer, the next try waits until then */
  private dlqRetryAt = 0;
  private pumping = false;
  private pumpTurn = 0;
  private traceTimer: ReturnType<typeof setTimeout> | null = null;
  /** push acks not applied yet (see ACK_FLUSH_MS), with the socket that sent them and when */
  private acks: { ws: WebSocket; group: GroupConfig; key: string; refs: HandleRef[]; at: number }[] = [];
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  /** writes the push leases held back once the oldest has been out LEASE_HOLD_MS */
  private holdTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly leaseHoldMs: number;
  /** packed appends (producePacked) wait here for their commit, in arrival order */
  private readonly appends = new GroupCommit<Stored>((parts, now) => this.storeParts(parts, now), () => { this.wake(); this.pump(); });
  private readonly ackFlushMs: number;

  /** SQL work of this object since it started, as billed (bench/cost.mjs, tests): only with env COST_COUNTERS */
  private readonly sqlCost: SqlCost | null;
  /** WebSocket messages received (billed as 1/20 of a request each), for costCounters */
  private wsMessagesIn = 0;
  /** produce/producePacked calls received (each a billed request): none for a socket held here */
  private produceCalls = 0;
  /** storeOn's target for the appends of a producer socket held here: the same work, no call */
  private readonly here = {
    produce: (route: QueueRoute, msgs: Outgoing[], key?: string) => this.produceHere(route, msgs, key),
    producePacked: (route: QueueRoute, p: PackedRecords, keys?: KeyRange[]) => this.producePackedHere(route, p, keys),
  };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const ms = Number(env.PUSH_ACK_FLUSH_MS);
    this.ackFlushMs = Number.isFinite(ms) && ms >= 0 ? ms : ACK_FLUSH_MS;
    const hold = Number(env.PUSH_LEASE_HOLD_MS);
    this.leaseHoldMs = Number.isFinite(hold) && hold >= 0 ? hold : LEASE_HOLD_MS;
    // counting wraps every statement (a cursor held per statement until a microtask folds it in):
    // ~a quarter of what the 1,000/s push flow left to full collections, for figures no one reads
    // in production, so only a server started to measure cost counts
    this.sqlCost = env.COST_COUNTERS === 'true' ? new SqlCost(ctx.storage.sql) : null;
    this.sql = this.sqlCost?.sql ?? ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, BROKER_MIGRATIONS, (fn) => ctx.storage.transactionSync(fn));
      this.meta = new Meta(this.sql);
      this.pushFilters = new PushFilters(this.sql);
      this.resent = new Resent(this.sql);
      this.log = new CommitLog(this.sql, this.meta);
      this.consume = new ConsumeState(this.sql);
      this.dedup = new Dedup(this.sql);
      this.schedule = new Schedule(this.sql);
      this.fifo = new Fifo(this.sql);
      this.txs = new Transactions(this.sql);
      this.keys = new KeyIndex(this.sql);
      this.tracer = new Trace(this.sql);
      this.stats = new Stats(this.sql, (g) => this.lagOf(g));
      this.dropped = this.meta.get('dropped') === '1';
      const r = this.meta.get('route');
      if (r) { this.route = JSON.parse(r); this.routeJson = r; }
      this.alarmAt = await ctx.storage.getAlarm();
      // push connections that did not survive a restart: their messages go back to the group at once
      const live = new Set(ctx.getWebSockets().map((ws) => this.socketState(ws)?.connId));
      const gone = this.consume.leaseHolders('ws:').filter((c) => !live.has(c));
      if (gone.length) this.txn(() => { for (const c of gone) this.returnLeases(c, Date.now()); });
    });
  }

  /**
   * A storage transaction. One that throws is rolled back, so what this object keeps in memory
   * about its storage (the log's end, the alarm it set) is read again from what is stored; the
   * alarm is set for the work left, after a pause so that a lasting fault does not spin.
   */
  private txn<T>(fn: () => T): T {
    const traced = this.tracer.mark();
    try {
      return this.ctx.storage.transactionSync(fn);
    } catch (err) {
      this.tracer.rollback(traced); // what did not happen was not traced
      try {
        this.reload();
        this.alarmAt = null;
        this.rearm(Date.now() + RETRY_ALARM_MS);
      } catch { /* storage is still failing: the first error says why */ }
      throw err;
    }
  }

  /** Reads again what is kept in memory about storage (after a rollback; tests that edit storage). */
  private reload(): void {
    this.log.resync();
    this.consume.resync();
    this.fifo.resync();
    this.dedup.resync();
  }

  /**
   * Debug (bench/cost.mjs): SQL statements and rows read/written (null unless env COST_COUNTERS is
   * "true"), WebSocket messages and produce calls received since this object started, and its
   * database size.
   */
  async costCounters() {
    this.flushTrace(); // the rows of the flow just measured
    const sql = this.sqlCost?.report() ?? { statements: null, rowsRead: null, rowsWritten: null, byStatement: [] };
    return { ...sql, wsMessagesIn: this.wsMessagesIn, produceCalls: this.produceCalls, databaseSize: this.ctx.storage.sql.databaseSize, startedAt: this.startedAt };
  }

  /**
   * Every call carries the topic's current route; keep it (the alarm needs it) when it changed.
   * Every call sees the push acks already received, but for produce (`acks: false`): an append
   * does not depend on them, and leaving them to their timer settles more of them at once.
   */
  private enter(route: QueueRoute, acks = true): Failure | null {
    if (this.dropped) return fail('TOPIC_NOT_FOUND', `topic "${route.topic.name}" does not exist`);
    if (acks) this.flushAcks();
    const json = JSON.stringify(route);
    if (json !== this.routeJson) { this.meta.set('route', json); this.route = route; this.routeJson = json; }
    return null;
  }

  /** Every way into the log (produce, due schedule, commit) goes through here: keys, stats. */
  private append(recs: (Rec & { i?: string })[], sizes: number[], now: number): { base: number; ts: number } {
    const r = this.log.append(recs, sizes, now);
    recs.forEach((rec, k) => { if (rec.k) this.keys.add(rec.k, r.base + k); });
    return this.appended(r, recs.length, now);
  }

  /** append() for records the Worker packed (the produce path). */
  private appendPacked(p: PackedRecords, now: number): { base: number; ts: number } {
    const r = this.log.appendText(p.text, p.lens, p.sizes, now);
    for (const [k, keys] of p.keys) this.keys.add(keys, r.base + k);
    return this.appended(r, p.lens.length, now);
  }

  private appended(r: { base: number; ts: number }, n: number, now: number): { base: number; ts: number } {
    this.stats.countProduced(n, now);
    this.lastActive = now;
    this.armAlarm(r.ts + this.route!.topic.retentionHours * 3_600_000);
    return r;
  }

  /** Records a trace event; it is written behind, within TRACE_FLUSH_MS (see storage/trace.ts). */
  private trace(type: TraceType, items: TraceItem[], data: Record<string, unknown> | null, now: number, pending = false): void {
    if (this.route?.topic.trace === false || !items.length) return;
    this.tracer.record(type, items, data, now, pending);
    const soon = this.tracer.buffered >= TRACE_FLUSH_ITEMS;
    if (this.traceTimer !== null && !soon) return;
    if (this.traceTimer !== null) clearTimeout(this.traceTimer);
    // never inside the caller's transaction: the flush runs as its own event
    this.traceTimer = setTimeout(() => { this.traceTimer = null; this.flushTrace(); }, soon ? 0 : TRACE_FLUSH_MS);
  }

  /** Writes the buffered trace events (one row per bucket) in a transaction of their own. */
  private flushTrace(): void {
    if (this.traceTimer !== null) { clearTimeout(this.traceTimer); this.traceTimer = null; }
    if (this.dropped) { this.tracer.discard(); return; }
    try {
      this.ctx.storage.transactionSync(() => this.tracer.flush());
    } catch (err) {
      console.error('trace flush failed; its events are lost', err); // diagnostic only: no message is
    }
  }

  private lagOf(grp: string): number | null {
    const s = this.consume.state(grp);
    return s ? Math.max(this.log.maxOffset - Math.max(s.consumerOffset, this.log.minOffset), 0) : null;
  }

  private messageId(off: number, rec: Rec & { i?: string }): string {
    if (rec.i !== undefined) return rec.i;
    if (this.idsFor !== this.route) {
      this.idsFor = this.route;
      this.ids = logMessageIdEncoder(this.route!.topic.incarnation, this.route!.queueId);
    }
    return this.ids!(off);
  }

  /** The public form of a stored message. */
  private present(e: LogEntry) {
    return presentMessage(e.rec, this.messageId(e.off, e.rec), e.off, e.ts, { topic: this.route!.topic.name, queueId: this.route!.queueId });
  }

  // ---- produce ---------------------------------------------------------------------------

  /** Appends the messages in one transaction; answers only once they are durable. */
  async produce(route: QueueRoute, msgs: Outgoing[], key?: string): Promise<{ messages: Produced[] } | Failure> {
    this.produceCalls++;
    return this.produceHere(route, msgs, key);
  }

  private async produceHere(route: QueueRoute, msgs: Outgoing[], key?: string): Promise<{ messages: Produced[] } | Failure> {
    const f = this.enter(route, false); if (f) return f;
    const now = Date.now();
    const window = route.topic.dedupWindowMs;
    const out = this.txn((): { messages: Produced[] } | Failure => {
      const keyHit = key !== undefined && window > 0 ? this.dedup.keyFinder(now)(key) : null;
      if (keyHit) {
        const s = this.storedBefore(key!, keyHit, msgs.length);
        return 'base' in s ? { messages: producedRun(route.topic, route.queueId, s.base, msgs.length, true) } : s;
      }
      const results: (Produced | null)[] = msgs.map(() => null); // dense: the RPC answer clones it (see packRecords)
      const seen = new Map<string, number>();
      const toLog: number[] = [];
      const findDup = this.dedup.finder(now); // the tables this produce creates hold only its own entries
      for (let i = 0; i < msgs.length; i++) {
        const d = msgs[i].dedupId;
        if (d !== undefined && window > 0) {
          const hit = findDup(d);
          if (hit) { results[i] = { messageId: hit.messageId, queueId: route.queueId, queueOffset: hit.off, duplicate: true }; continue; }
          if (seen.has(d)) continue; // filled in from the first one below
          seen.set(d, i);
        }
        if (msgs[i].rec.da !== undefined) {
          const seq = this.schedule.add(msgs[i].rec, msgs[i].size);
          this.trace('SCHEDULED', [{ off: seq }], { deliverAt: msgs[i].rec.da }, now, true);
          const id = encodeMessageId({ incarnation: route.topic.incarnation, queueId: route.queueId, kind: IdKind.Pending, seq });
          results[i] = { messageId: id, queueId: route.queueId, queueOffset: null };
          this.armAlarm(msgs[i].rec.da!);
        } else toLog.push(i);
      }
      if (toLog.length) {
        const { base } = this.append(toLog.map((i) => msgs[i].rec), toLog.map((i) => msgs[i].size), now);
        toLog.forEach((i, k) => {
          results[i] = { messageId: this.messageId(base + k, msgs[i].rec), queueId: route.queueId, queueOffset: base + k };
        });
      }
      let dropAt = Infinity; // when the entries stored here can go
      for (let i = 0; i < msgs.length; i++) {
        const d = msgs[i].dedupId;
        if (d === undefined || window <= 0) continue;
        const first = seen.get(d);
        if (first === i) {
          const r = results[i]!;
          dropAt = Math.min(dropAt, this.dedup.remember(d, { messageId: r.messageId, off: r.queueOffset }, now + window, window));
        } else if (results[i] === null && first !== undefined) {
          results[i] = { ...results[first]!, duplicate: true };
        }
      }
      if (key !== undefined && window > 0) dropAt = Math.min(dropAt, this.dedup.rememberKey(key, { results }, now + window, window));
      if (dropAt < Infinity) this.armAlarm(dropAt);
      return { messages: results as Produced[] };
    });
    this.wake();
    this.pump();
    return out;
  }

  /**
   * The answer to a request part whose idempotency key was stored before: the first request's
   * results, each a duplicate; CONFLICT if that request had a different number of messages here.
   */
  private storedBefore(key: string, hit: KeyHit, n: number): Stored {
    const had = 'base' in hit ? hit.n : hit.results.length;
    if (had !== n) {
      return fail('CONFLICT', `Idempotency-Key "${key}" was used for a request of ${had} message(s) to queue ${this.route!.queueId}; this one has ${n}: use a new key for a new request`);
    }
    if ('base' in hit) return { base: hit.base, duplicate: true };
    return { messages: (hit.results as Produced[]).map((m) => ({ ...m, duplicate: true as const })) };
  }

  /**
   * produce() for messages without a dedupId or a due time, packed by the Worker (packRecords):
   * answers the first offset once durable; the ids follow from it (logMessageId).
   *
   * Group commit: the appends that reach this object before its next timer turn (concurrent
   * produces, from any number of requests and isolates) go into one transaction and one segment
   * row, so one commit (one fsync here) serves them all; a lone produce waits that one turn
   * (setTimeout 0). They are stored in arrival order, each part's messages together.
   */
  async producePacked(route: QueueRoute, p: PackedRecords, keys?: KeyRange[]): Promise<Stored> {
    this.produceCalls++;
    return this.producePackedHere(route, p, keys);
  }

  /**
   * `keys`: the idempotency keys of the sends whose records `p` holds, each over its run of them
   * (a produce channel's sends stored together). Each keyed run is an append of its own, all
   * queued at once, so nothing comes between them.
   */
  private producePackedHere(route: QueueRoute, p: PackedRecords, keys?: KeyRange[]): Promise<Stored> {
    const f = this.enter(route, false); if (f) return Promise.resolve(f);
    if (!keys?.some((k) => k.key !== undefined)) return this.appends.add({ p });
    if (keys.reduce((n, k) => n + k.n, 0) !== p.lens.length) return Promise.resolve(fail('BAD_REQUEST', 'the key ranges do not cover the records'));
    if (keys.length === 1) return this.appends.add({ p, key: keys[0].key });
    let at = 0;
    const runs = keys.map((k) => {
      const run = slicePacked(p, at, (at += k.n));
      return this.appends.add(k.key === undefined ? { p: run } : { p: run, key: k.key });
    });
    return Promise.all(runs).then((rs) => this.joinRuns(route, rs, keys));
  }

  /** The runs' results as one: a run of offsets when each was stored anew, else every message's result. */
  private joinRuns(route: QueueRoute, rs: Stored[], keys: KeyRange[]): Stored {
    const failed = rs.find(isFailure);
    if (failed) return failed;
    const runs = rs as Exclude<Stored, Failure>[];
    // all stored anew, in one run of offsets (as they are: nothing is queued between them)
    let at = 'base' in runs[0] && !runs[0].duplicate ? runs[0].base : -1;
    if (at >= 0 && runs.every((r, i) => { const ok = 'base' in r && !r.duplicate && r.base === at; at += keys[i].n; return ok; })) return runs[0];
    return { messages: runs.flatMap((r, i) => ('messages' in r ? r.messages : producedRun(route.topic, route.queueId, r.base, keys[i].n, r.duplicate))) };
  }

  /**
   * The group commit's transaction: the waiting appends joined into as few segment rows as fit,
   * but for those whose idempotency key was stored before (in an earlier commit, or earlier in
   * this one), which store nothing and answer what was stored then. A key costs one entry (one
   * row written) per request, whatever its number of messages.
   */
  private storeParts(appends: Append[], now: number): Stored[] | Failure {
    if (this.dropped) return fail('TOPIC_NOT_FOUND', `topic "${this.route!.topic.name}" does not exist`);
    const window = this.route!.topic.dedupWindowMs;
    const find = window > 0 && appends.some((a) => a.key !== undefined) ? this.dedup.keyFinder(now) : null;
    return this.txn(() => {
      const out: Stored[] = new Array(appends.length);
      const fresh: number[] = [];
      const first = new Map<string, number>(); // a key sent again within this commit: the first one stores
      appends.forEach((a, i) => {
        if (find && a.key !== undefined) {
          const hit = find(a.key);
          if (hit) { out[i] = this.storedBefore(a.key, hit, a.p.lens.length); return; }
          if (first.has(a.key)) return; // answered below
          first.set(a.key, i);
        }
        fresh.push(i);
      });
      if (!fresh.length) return out;
      let base = joinPacked(fresh.map((i) => appends[i].p), SEGMENT_JOIN_CHARS).map((p) => this.appendPacked(p, now))[0].base; // the runs' offsets follow each other
      let dropAt = Infinity;
      for (const i of fresh) {
        const { p, key } = appends[i];
        out[i] = { base };
        if (find && key !== undefined) dropAt = Math.min(dropAt, this.dedup.rememberKey(key, { base, n: p.lens.length }, now + window, window));
        base += p.lens.length;
      }
      if (dropAt < Infinity) this.armAlarm(dropAt);
      appends.forEach((a, i) => {
        if (out[i] !== undefined) return;
        const j = first.get(a.key!)!;
        out[i] = this.storedBefore(a.key!, { base: (out[j] as { base: number }).base, n: appends[j].p.lens.length }, a.p.lens.length);
      });
      return out;
    });
  }

  // ---- consume ---------------------------------------------------------------------------

  private consumeConfig(g: GroupConfig): ConsumeConfig {
    return { maxRetries: g.maxRetries, retryPolicy: g.retryPolicy, invisibleMs: g.invisibleMs };
  }

  private startOffset(from: ConsumeFrom): number {
    if (from === 'LAST') return this.log.maxOffset;
    if (from === 'FIRST') return this.log.minOffset;
    return this.log.offsetForTimestamp(from.timestamp);
  }

  private ensureGroup(c: ConsumerRef): number {
    const next = this.consume.ensureGroup(c.key, () => this.startOffset(c.group.consumeFrom), this.consumeConfig(c.group));
    const min = this.log.minOffset;
    if (next < min) { this.consume.setNext(c.key, min); return min; }
    return next;
  }

  private predicate(spec: FilterSpec | null | undefined): Predicate {
    const key = filterKey(spec);
    let p = this.filters.get(key);
    if (!p) { p = compileFilter(spec); this.filters.set(key, p); }
    return p;
  }

  private seen(c: ConsumerRef): void {
    if (!c.consumerId) return;
    let m = this.pullConsumers.get(c.group.name);
    if (!m) this.pullConsumers.set(c.group.name, (m = new Map()));
    m.set(c.consumerId, Date.now());
  }

  /**
   * Leases up to `max` messages to a state key: due retries first, then new ones in log order.
   * Filtered-out messages are passed over and count as consumed; a FIFO message waits while an
   * earlier one of its message group is out. `push`: for a push socket (`holder` its connection),
   * whose deliveries may be written behind. Call inside a transaction.
   */
  private deliver(key: string, max: number, pred: Predicate, invisibleMs: number, holder: string | null, now: number,
    consumerId: string | null = holder, push = false): Delivery {
    let next = this.consume.nextOf(key);
    const min = this.log.minOffset;
    if (next < min) next = min;
    const start = next;
    const picked: { e: LogEntry; attempt: number }[] = [];
    let bytes = 0;
    const full = () => picked.length >= max || bytes >= LIMITS.receiveBytesMax;
    const gone: number[] = [];
    for (const r of this.consume.dueRetries(key, now, max)) {
      if (full()) break;
      gone.push(r.off);
      const e = this.log.read(r.off);
      if (!e) continue; // deleted by retention meanwhile
      picked.push({ e, attempt: r.attempt });
      bytes += e.rec.b.length;
    }
    this.consume.removeRetries(key, gone);
    const end = this.log.maxOffset;
    let scanned = 0;
    let grouped = false;
    while (!full() && next < end && scanned < 4 * LIMITS.receiveMaxMessages + 1000) {
      const e = this.log.read(next);
      next++; scanned++;
      if (!e || !pred({ tag: e.rec.t, properties: e.rec.p })) continue;
      if (e.rec.o !== undefined && e.rec.o !== key.split('\u001f')[0]) continue; // resent for another group
      if (e.rec.g !== undefined) {
        grouped = true;
        if (!this.fifo.admit(key, e.rec.g, e.off)) continue; // held behind its group
      }
      picked.push({ e, attempt: 1 });
      bytes += e.rec.b.length;
    }
    // A push delivery of messages never out before is written behind (ConsumeState.behindLeases):
    // lost in a crash, they are delivered again. Retries (their rows are gone) and FIFO messages
    // (their holds are written) are written at once, like every pull.
    const behind = push && !gone.length && !grouped;
    if (next !== start) this.consume.setNext(key, next, behind);
    if (!picked.length) return NO_DELIVERY;
    const deadline = now + invisibleMs;
    const items: Item[] = picked.map((p) => [p.e.off, p.attempt]);
    const leaseId = this.consume.lease(key, items, deadline, holder, behind ? now : undefined);
    if (behind) this.flushAcksSoon();
    this.trace('DELIVERED', picked.map((p) => ({ off: p.e.off, each: { deliveryAttempt: p.attempt } })),
      { group: key.split('\u001f')[0], consumerId }, now);
    this.lastActive = now;
    this.armAlarm(deadline);
    const r = this.route!;
    const handle = receiptHandleEncoder(r.topic.incarnation, r.queueId, hash32(key), leaseId);
    const encode = deliveredEncoder({ topic: r.topic.name, queueId: r.queueId });
    const handles = new Array<string>(picked.length);
    const texts = new Array<string>(picked.length);
    for (let i = 0; i < picked.length; i++) {
      const { e, attempt } = picked[i];
      handles[i] = handle(e.off, attempt);
      texts[i] = encode(e.rec, this.messageId(e.off, e.rec), e.off, e.ts, attempt, handles[i]);
    }
    return { handles, text: texts.join(',') };
  }

  /** Pull: leases up to `max` messages to the consumer. */
  async receive(route: QueueRoute, c: ConsumerRef, opts: ReceiveOpts) {
    const f = this.enter(route); if (f) return f;
    const pred = this.predicate(opts.filter);
    this.seen(c);
    const now = Date.now();
    const { handles, text } = this.txn(() => {
      this.ensureGroup(c);
      return this.deliver(c.key, opts.max, pred, opts.invisibleMs ?? c.group.invisibleMs, c.consumerId, now);
    });
    return { n: handles.length, text };
  }

  /** True as soon as the consumer could receive something here, false after `waitMs`. */
  async waitAvailable(route: QueueRoute, c: ConsumerRef, waitMs: number): Promise<boolean | Failure> {
    const f = this.enter(route); if (f) return f;
    const now = Date.now();
    const next = this.ensureGroup(c);
    if (next < this.log.maxOffset || this.consume.hasDueRetry(c.key, now)) return true;
    if (waitMs <= 0) return false;
    if (this.waiters.size >= MAX_WAITERS) {
      return fail('OVERLOADED', `queue ${route.queueId} of "${route.topic.name}" already holds ${MAX_WAITERS} long polls; retry after a second`);
    }
    const retryAt = this.consume.nextRetryDue(c.key);
    const wait = Math.min(waitMs, retryAt !== null ? Math.max(retryAt - now, 0) : waitMs);
    return new Promise<boolean>((resolve) => {
      const w: Waiter = {
        key: c.key, resolve,
        timer: setTimeout(() => { this.waiters.delete(w); resolve(retryAt !== null && wait < waitMs); }, wait),
      };
      this.waiters.add(w);
    });
  }

  /** Something became available: every long poll here answers and tries to receive. */
  private wake(): void {
    for (const w of this.waiters) { clearTimeout(w.timer); w.resolve(true); }
    this.waiters.clear();
  }

  /** Whether a state key belongs to the group (itself, or one of its broadcasting consumers). */
  private owner(group: string): (grp: string) => boolean {
    return (grp) => grp === group || grp.startsWith(`${group}\u001f`);
  }

  /** `key`: only that state key's deliveries (a push socket's own), else any of the group's. */
  private take(group: string, handles: HandleRef[], now: number, key?: string): Taken[] {
    const owns = key === undefined ? this.owner(group) : (g: string) => g === key;
    const refs = handles.map((h) => ({ leaseId: h.leaseId, off: h.offset, attempt: h.attempt, groupHash: h.groupHash }));
    // a handle whose lease belongs to another state key of the group (hash mismatch) is forged:
    // INVALID, and its delivery stays in the lease
    return this.consume.take((g, r) => owns(g) && hash32(g) === r.groupHash, refs, now);
  }

  /** A delivery is finished for its group: the next message of its FIFO group may go. */
  private finished(grp: string, off: number, now: number): void {
    const next = this.fifo.finish(grp, off);
    if (next !== null) this.consume.release(grp, next, 1, now);
  }

  /** A failed delivery: retried after its backoff, or dead-lettered (and so finished). */
  private failed(grp: string, d: { off: number; attempt: number }, cfg: ConsumeConfig, now: number, delayMs?: number,
    why: 'NACKED' | 'EXPIRED' = 'EXPIRED', reason?: string): void {
    const what = this.consume.fail(grp, d, cfg, now, delayMs);
    this.trace(why, [{ off: d.off }], { group: grp.split('\u001f')[0], deliveryAttempt: d.attempt, ...(reason ? { reason } : {}),
      ...(what === 'DLQ' ? { next: 'DEAD_LETTER' } : {}) }, now);
    if (what === 'DLQ' && this.fifo.any(grp)) this.finished(grp, d.off, now);
  }

  private settle(group: GroupConfig, handles: HandleRef[], nack: boolean, delayMs: number | undefined, now: number, key?: string): AckStatus[] {
    const cfg = this.consumeConfig(group);
    const fifo = new Map<string, boolean>();
    const isFifo = (g: string) => { if (!fifo.has(g)) fifo.set(g, this.fifo.any(g)); return fifo.get(g)!; };
    const acked: TraceItem[] = [];
    const results = this.take(group.name, handles, now, key).map((t): AckStatus => {
      if (typeof t === 'string') return t;
      if (nack) this.failed(t.grp, t, cfg, now, delayMs, 'NACKED');
      else {
        acked.push({ off: t.off });
        if (isFifo(t.grp)) this.finished(t.grp, t.off, now);
      }
      return 'OK';
    });
    if (acked.length) {
      this.trace('ACKED', acked, { group: group.name }, now);
      this.stats.countConsumed(group.name, acked.length, now);
    }
    this.lastActive = now;
    return results;
  }

  async ack(route: QueueRoute, group: GroupConfig, handles: HandleRef[]): Promise<{ results: AckStatus[] } | Failure> {
    const f = this.enter(route); if (f) return f;
    const results = this.txn(() => this.settle(group, handles, false, undefined, Date.now()));
    this.afterSettle();
    return { results };
  }

  /** Acks and nacks can release FIFO successors and make retries due: push them, wake pulls. */
  private afterSettle(): void {
    this.rearm();
    this.pump();
    if (this.waiters.size) this.wake();
  }

  async nack(route: QueueRoute, group: GroupConfig, handles: HandleRef[], delayMs?: number): Promise<{ results: AckStatus[] } | Failure> {
    const f = this.enter(route); if (f) return f;
    const results = this.txn(() => this.settle(group, handles, true, delayMs, Date.now()));
    this.afterSettle();
    return { results };
  }

  async changeInvisibility(route: QueueRoute, group: GroupConfig, h: HandleRef, invisibleMs: number): Promise<{ receiptHandle: string } | Failure> {
    const f = this.enter(route); if (f) return f;
    const now = Date.now();
    return this.txn(() => {
      const [t] = this.take(group.name, [h], now);
      if (t === 'INVALID') return fail('INVALID_RECEIPT_HANDLE', 'the receipt handle belongs to another group or topic');
      if (t === 'EXPIRED') return fail('RECEIPT_HANDLE_EXPIRED', 'the receipt handle has expired or was superseded by a later delivery; receive the message again');
      const deadline = now + invisibleMs;
      const lease = this.consume.lease(t.grp, [[t.off, t.attempt]], deadline, null);
      this.armAlarm(deadline);
      return {
        receiptHandle: encodeReceiptHandle({
          incarnation: route.topic.incarnation, queueId: route.queueId, groupHash: hash32(t.grp), leaseId: lease, offset: t.off, attempt: t.attempt,
        }),
      };
    });
  }

  // ---- scheduled and transactional messages ---------------------------------------------------

  private pendingId(seq: number): string {
    const r = this.route!;
    return encodeMessageId({ incarnation: r.topic.incarnation, queueId: r.queueId, kind: IdKind.Pending, seq });
  }

  /** Recalls a scheduled message that is not yet due. */
  async recall(route: QueueRoute, seq: number): Promise<{ recalled: true } | Failure> {
    const f = this.enter(route); if (f) return f;
    const p = this.schedule.get(seq);
    // a rolled-back half message is gone (as lookup says)
    if (!p || p.state === PendingState.RolledBack) return fail('MESSAGE_NOT_FOUND', 'no such message');
    const now = Date.now();
    if (this.schedule.recall(seq, now)) { this.trace('RECALLED', [{ off: seq }], null, now, true); return { recalled: true }; }
    const why = p.state === PendingState.Delivered ? 'it is already due and was delivered to the queue'
      : p.state === PendingState.Recalled ? 'it was already recalled'
      : p.state === PendingState.Waiting ? 'it is already due and is being delivered to the queue'
      : 'it is a transactional (half) message: roll its transaction back instead';
    return fail('CONFLICT', `the message cannot be recalled: ${why}`);
  }

  /** Stores half messages, invisible until their transaction commits. */
  async prepare(route: QueueRoute, msgs: Outgoing[], opts: TxOpts): Promise<{ transactionId: string; messages: { messageId: string }[] } | Failure> {
    const f = this.enter(route); if (f) return f;
    const now = Date.now();
    const out = this.txn(() => {
      const tx = this.txs.open(opts, now);
      const ids = msgs.map((m) => this.pendingId(this.schedule.addHalf(m.rec, m.size, tx)));
      return { tx, ids };
    });
    this.armAlarm(now + (opts.checkUrl ? opts.checkAfterMs : opts.timeoutMs));
    return {
      transactionId: encodeMessageId({ incarnation: route.topic.incarnation, queueId: route.queueId, kind: IdKind.Tx, seq: out.tx }),
      messages: out.ids.map((messageId) => ({ messageId })),
    };
  }

  /** Commits or rolls back; the same decision again answers the same, a different one is 409. */
  async resolve(route: QueueRoute, txId: number, decision: 'COMMIT' | 'ROLLBACK'): Promise<{ state: 'COMMITTED' | 'ROLLED_BACK' } | Failure> {
    const f = this.enter(route); if (f) return f;
    const r = this.applyDecision(txId, decision, Date.now());
    if (r === null) return fail('TRANSACTION_NOT_FOUND', 'no such transaction (or it was resolved so long ago that it was forgotten)');
    return r;
  }

  private applyDecision(txId: number, decision: 'COMMIT' | 'ROLLBACK', now: number): { state: 'COMMITTED' | 'ROLLED_BACK' } | Failure | null {
    const tx = this.txs.get(txId);
    if (!tx) return null;
    const want = decision === 'COMMIT' ? TxState.Committed : TxState.RolledBack;
    const name = (s: TxState) => (s === TxState.Committed ? 'COMMITTED' : 'ROLLED_BACK') as 'COMMITTED' | 'ROLLED_BACK';
    if (tx.state !== TxState.Open) {
      if (tx.state === want) return { state: name(want) };
      return fail('TRANSACTION_RESOLVED', `the transaction was already ${name(tx.state).toLowerCase().replace('_', ' ')}`);
    }
    this.txn(() => {
      if (want === TxState.Committed) {
        const halves = this.schedule.halves(txId);
        if (halves.length) {
          const recs = halves.map((h) => ({ ...h.rec, i: this.pendingId(h.seq) }));
          const { base } = this.append(recs, halves.map((h) => h.size), now);
          this.schedule.delivered(halves.map((h) => h.seq), base, now);
        }
      } else this.schedule.rollBack(txId, now);
      this.trace(want === TxState.Committed ? 'COMMITTED' : 'ROLLED_BACK', this.schedule.txSeqs(txId).map((q) => ({ off: q })), null, now, true);
      this.txs.resolve(txId, want, now);
    });
    if (want === TxState.Committed) { this.wake(); this.pump(); }
    return { state: name(want) };
  }

  /**
   * Transactions past their check time: roll back, or ask the producer's checkUrl. A check-back
   * runs beside the alarm, not in it: a slow or hanging checkUrl holds up nothing else of the
   * queue (scheduled messages, redeliveries). While it is asked, the check is counted and the
   * transaction is due again only after the check's timeout and one interval (what a crash in the
   * middle leaves behind); its answer then decides, or sets the next check one interval on.
   */
  private startChecks(now: number): void {
    for (const tx of this.txs.due(now)) {
      if (this.checks.has(tx.id)) continue;
      const o = tx.opts;
      if (!o.checkUrl || tx.checks >= o.maxChecks) { this.applyDecision(tx.id, 'ROLLBACK', now); continue; }
      const checkTimes = tx.checks + 1;
      this.txs.checked(tx.id, now + CHECK_TIMEOUT_MS + o.checkIntervalMs);
      const asked = this.askProducer(tx.id, o.checkUrl, checkTimes).then((answer) => {
        if (this.dropped) return;
        const at = Date.now();
        this.trace('CHECKED', this.schedule.txSeqs(tx.id).map((q) => ({ off: q })), { checkTimes, answer }, at, true);
        if (answer === 'COMMIT' || answer === 'ROLLBACK') this.applyDecision(tx.id, answer, at);
        else if (checkTimes >= o.maxChecks) this.applyDecision(tx.id, 'ROLLBACK', at);
        else this.txs.postpone(tx.id, at + o.checkIntervalMs);
        this.rearm(at + 1, true); // the alarm was set for this check's provisional due time
      }).catch((err) => console.error('transaction check-back failed', err))
        .finally(() => this.checks.delete(tx.id));
      this.checks.set(tx.id, asked);
    }
  }

  /** Resolves once the check-backs asked so far have answered and been applied (tests wait on it). */
  async checksSettled(): Promise<void> {
    await Promise.all([...this.checks.values()]);
  }

  /** One check-back; a timeout, an error or a garbage answer is UNKNOWN. */
  private async askProducer(txId: number, url: string, checkTimes: number): Promise<'COMMIT' | 'ROLLBACK' | 'UNKNOWN'> {
    const r = this.route!;
    const body = {
      topic: r.topic.name,
      transactionId: encodeMessageId({ incarnation: r.topic.incarnation, queueId: r.queueId, kind: IdKind.Tx, seq: txId }),
      messageIds: this.schedule.txSeqs(txId).map((s) => this.pendingId(s)),
      checkTimes,
    };
    try {
      const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
        signal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
      if (!res.ok) return 'UNKNOWN';
      const text = await res.text();
      if (text.length > 4096) return 'UNKNOWN';
      const state = (JSON.parse(text) as { state?: unknown })?.state;
      return state === 'COMMIT' || state === 'ROLLBACK' ? state : 'UNKNOWN';
    } catch {
      return 'UNKNOWN';
    }
  }

  /** One message by position or pending id, with its state (for query and recall). */
  async getMessage(route: QueueRoute, where: { off: number } | { seq: number }): Promise<Record<string, unknown> | null | Failure> {
    const f = this.enter(route); if (f) return f;
    if ('off' in where) {
      const e = this.log.read(where.off);
      return e ? { ...this.present(e), state: 'STORED' } : null;
    }
    const p = this.schedule.get(where.seq);
    if (!p) return null;
    if (p.state === PendingState.Delivered && p.off !== null) {
      const e = this.log.read(p.off);
      if (e) return { ...this.present(e), state: 'STORED' };
    }
    // rolled back, or delivered and since deleted by retention: not SCHEDULED
    if (p.state === PendingState.RolledBack || p.state === PendingState.Delivered) return null;
    const state = p.state === PendingState.Half ? 'HALF' : p.state === PendingState.Recalled ? 'RECALLED' : 'SCHEDULED';
    return { ...this.present({ off: -1, ts: p.rec.bt, rec: { ...p.rec, i: this.pendingId(p.seq) } }), queueOffset: null, state };
  }

  // ---- query, trace, DLQ, stats ----------------------------------------------------------------

  /**
   * Messages by key, by position, or by store time, after offset `after`, up to `limit` (and
   * whether there are more). Key and time lookups use indexes, so none scans the log.
   */
  async query(route: QueueRoute, q: { key: string } | { offset: number } | { start: number; end: number }, after: number | null, limit: number) {
    const f = this.enter(route); if (f) return f;
    const out: Record<string, unknown>[] = [];
    let more = false;
    if ('key' in q) {
      const offs = this.keys.find(q.key, after ?? -1, limit + 1);
      more = offs.length > limit;
      for (const off of offs.slice(0, limit)) { const e = this.log.read(off); if (e) out.push({ ...this.present(e), state: 'STORED' }); }
    } else {
      const min = this.log.minOffset, end = this.log.maxOffset;
      let off = Math.max(after !== null ? after + 1 : 'offset' in q ? q.offset : this.log.offsetForTimestamp(q.start), min);
      for (; off < end && out.length < limit; off++) {
        const e = this.log.read(off);
        if (!e) continue;
        if ('end' in q && e.ts > q.end) { off = end; break; }
        out.push({ ...this.present(e), state: 'STORED' });
      }
      more = off < end && (!('end' in q) || (this.log.read(off)?.ts ?? Infinity) <= q.end);
    }
    return { messages: out, more };
  }

  /** Where the message at `off` is for each group (API.md: per-group status). */
  async messageStatus(route: QueueRoute, off: number, groups: { name: string; mode: string; filter: string | null }[]) {
    const f = this.enter(route); if (f) return f;
    const e = this.log.read(off);
    const out: { group: string; consumerId?: string; status: string }[] = [];
    for (const g of groups) {
      const keys = g.mode === 'BROADCASTING' ? this.consume.groups().filter((k) => k.startsWith(`${g.name}\u001f`)) : [g.name];
      for (const key of keys) {
        const consumerId = key.includes('\u001f') ? key.split('\u001f')[1] : undefined;
        out.push({ group: g.name, ...(consumerId ? { consumerId } : {}), status: this.statusFor(key, off, e, g.filter) });
      }
    }
    return { groups: out };
  }

  private statusFor(key: string, off: number, e: LogEntry | null, filter: string | null): string {
    if (!this.consume.hasGroup(key)) return 'NOT_CONSUMED_YET';
    const where = this.consume.whereIs(key, off);
    if (where) return where;
    if (off >= this.consume.nextOf(key) || this.fifo.pending(key, off)) return 'NOT_CONSUMED_YET';
    if (e && ((filter !== null && !this.predicate(parseFilterKey(filter))({ tag: e.rec.t, properties: e.rec.p }))
      || (e.rec.o !== undefined && e.rec.o !== key.split('\u001f')[0]))) return 'FILTERED';
    const group = key.split('\u001f')[0];
    if (this.tracer.events(off).some((ev) => ev.type === 'DEAD_LETTERED' && ev.group === group)) return 'DLQ';
    return 'CONSUMED';
  }

  /** The trace of one message, oldest first; PUBLISHED is its store (or send) time. */
  async traceOf(route: QueueRoute, where: { off: number } | { seq: number }) {
    const f = this.enter(route); if (f) return f;
    let events: { type: string; at: number; [k: string]: unknown }[];
    if ('off' in where) {
      const e = this.log.read(where.off);
      if (!e) return null;
      events = [{ type: 'PUBLISHED', at: e.ts }, ...this.tracer.events(where.off)];
    } else {
      const p = this.schedule.get(where.seq);
      if (!p) return null;
      events = [{ type: 'PUBLISHED', at: p.rec.bt }, ...this.tracer.events(where.seq, true), ...(p.off !== null ? this.tracer.events(p.off) : [])];
    }
    return { events: events.sort((a, b) => a.at - b.at) };
  }

  /** On a %DLQ% queue: dead letters after `after`, each with whether (and as what) it was resent. */
  async dlqList(route: QueueRoute, after: number | null, limit: number) {
    const f = this.enter(route); if (f) return f;
    const r = await this.query(route, { offset: 0 }, after, limit);
    if ('failure' in r) return r;
    const resent = this.resent.of(r.messages.map((m) => m.queueOffset as number));
    return { more: r.more, messages: r.messages.map((m) => ({ ...m, resent: resent.get(m.queueOffset as number) ?? null })) };
  }

  /** The raw records of dead letters (for resending them). */
  async dlqRecords(route: QueueRoute, offs: number[]) {
    const f = this.enter(route); if (f) return f;
    return offs.map((off) => {
      const e = this.log.read(off);
      return e && !this.resent.has(off) ? { off, rec: e.rec, messageId: this.messageId(off, e.rec) } : null;
    });
  }

  async markResent(route: QueueRoute, items: { off: number; messageId: string; topic: string; group: string }[]) {
    const f = this.enter(route); if (f) return f;
    const now = Date.now();
    this.txn(() => {
      for (const it of items) {
        this.resent.mark(it.off, now, it.messageId);
        this.trace('RESENT', [{ off: it.off }], { group: it.group, topic: it.topic, messageId: it.messageId }, now);
      }
    });
    return { ok: true };
  }

  /** Appends a copy of the message at `off` for `group` only (RocketMQ's resend to a consumer group). */
  async resendTo(route: QueueRoute, off: number, group: string): Promise<{ messageId: string } | null | Failure> {
    const f = this.enter(route); if (f) return f;
    const e = this.log.read(off);
    if (!e) return null;
    const now = Date.now();
    const { i: _i, ...rec } = e.rec as Rec & { i?: string };
    const id = this.txn(() => {
      const { base } = this.append([{ ...rec, o: group }], [rec.b.length], now);
      const newId = this.messageId(base, rec);
      this.trace('RESENT', [{ off }], { group, messageId: newId }, now);
      return newId;
    });
    this.wake();
    this.pump();
    return { messageId: id };
  }

  /** This broker's line in /v1/cluster. */
  async brokerInfo(route: QueueRoute) {
    const f = this.enter(route); if (f) return f;
    const s = this.log.status();
    const now = Date.now();
    return {
      topic: route.topic.name, queueId: route.queueId, messages: s.messages, bytes: s.bytes,
      minOffset: s.minOffset, maxOffset: s.maxOffset, lastActive: this.lastActive || s.lastStoreTimestamp,
      ...this.stats.tps(now), scheduled: this.schedule.count(), connections: this.ctx.getWebSockets().length,
      // when this instance started: an idle object with sockets is evicted (hibernated) and starts anew
      instanceStartedAt: this.startedAt,
    };
  }

  /** Per-minute series since `fromMinute`: produced, and consumed and lag of `group` if given. */
  async statsSeries(route: QueueRoute, fromMinute: number, group: string | null) {
    const f = this.enter(route); if (f) return f;
    return { points: this.stats.series(fromMinute, group, Date.now()) };
  }

  // ---- push over hibernatable WebSockets ---------------------------------------------------

  /**
   * A push socket, accepted hibernatable: a relay's upstream (src/worker/relay.ts, one per queue of
   * the topic), or, for a topic of one queue, the client's own socket (`sub.budget`).
   */
  async fetch(req: Request): Promise<Response> {
    if ((req.headers.get('Upgrade') ?? '').toLowerCase() !== 'websocket') return new Response('expected a WebSocket', { status: 426 });
    const produce = req.headers.get('X-Edgemq-Produce');
    if (produce !== null) return this.produceSocket(JSON.parse(produce) as TopicRoute);
    const sub = JSON.parse(req.headers.get('X-Edgemq-Sub') ?? 'null') as PushSubscription | null;
    if (!sub) return new Response('missing subscription', { status: 400 });
    const f = this.enter(sub.route);
    if (f) return Response.json({ error: f.failure }, { status: 404 });
    const pair = new WebSocketPair();
    const ws = pair[1];
    this.txn(() => {
      this.ensureGroup({ group: sub.group, key: sub.key, consumerId: sub.consumerId });
      if (sub.filter !== null) this.pushFilters.set(sub.connId, filterKey(sub.filter));
    });
    this.socketFilters.delete(sub.connId);
    this.ctx.acceptWebSocket(ws, [sub.key]);
    const st: SocketState = {
      connId: sub.connId, key: sub.key, group: sub.group.name, consumerId: sub.consumerId,
      connectedAt: Date.now(), credit: 0, hungry: false,
      ...(sub.budget !== undefined ? { budget: sub.budget } : {}),
    };
    this.saveSocketState(ws, st);
    if (st.budget !== undefined) {
      this.clientCredit.opened(st.connId);
      setTimeout(() => this.pump(), 0); // its credit is there from the start: once the 101 is on its way
    }
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    this.wsMessagesIn++;
    const producer = this.producer(ws);
    if (producer) return producer.frame(data);
    const st = this.socketState(ws)!;
    if (st.budget !== undefined) return this.fromClient(ws, st, data);
    let f: BrokerControl;
    try { f = JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)); } catch { return; }
    if (f.type === 'credit') {
      this.addCredit(ws, st, f.n);
      return;
    }
    if (f.type === 'reclaim') {
      const n = st.credit;
      st.credit = 0;
      this.saveSocketState(ws, st);
      ws.send(JSON.stringify({ type: 'returned', n }));
      return;
    }
    if (f.type !== 'ack' && f.type !== 'nack') return;
    this.settleFrame(ws, st, f);
    if (f.credit !== undefined) this.addCredit(ws, st, f.credit); // after the acks: pump sees them
  }

  private addCredit(ws: WebSocket, st: SocketState, n: number): void {
    st.credit += Math.max(0, Math.floor(n) || 0);
    st.hungry = false;
    this.saveSocketState(ws, st);
    this.pump();
  }

  /**
   * A frame from a client socket served here, checked as the relay checks it: an ack or a nack
   * frees one credit per handle out on this socket (a handle acked twice, or not this socket's,
   * frees none), at once, while the acks themselves wait for the next flush like a relay's.
   */
  private fromClient(ws: WebSocket, st: SocketState, data: string | ArrayBuffer): void {
    let f: ClientFrame;
    try { f = readClientFrame(data); } catch (e) {
      this.sendError(ws, e);
      return;
    }
    const freed = this.clientCredit.settled(st.connId, f.receiptHandles);
    this.settleFrame(ws, st, f);
    if (freed) this.pump(); // after the acks: pump sees them
  }

  /** The receipt handles of a socket's leases: what is out on it, as storage has it. */
  private handlesOut(connId: string): string[] {
    const r = this.route;
    if (!r) return [];
    const out: string[] = [];
    for (const l of this.txn(() => this.consume.leasesOf(connId))) {
      const handle = receiptHandleEncoder(r.topic.incarnation, r.queueId, hash32(l.grp), l.id);
      for (const [off, attempt] of l.items) out.push(handle(off, attempt));
    }
    return out;
  }

  private settleFrame(ws: WebSocket, st: SocketState, f: ClientFrame): void {
    const cfg = this.consume.configOf(st.key);
    if (!cfg || !this.route) return;
    const group = { ...cfg, name: st.group } as GroupConfig;
    const refs: HandleRef[] = [];
    let invalid = 0;
    // a socket settles only its own state key's deliveries: a broadcasting consumer cannot ack
    // or nack a sibling's (that would move the sibling's offsets), nor a socket another group's
    const own = hash32(st.key);
    for (const h of f.receiptHandles) {
      const d = decodeReceiptHandle(h);
      if (!d || d.queueId !== this.route.queueId || d.incarnation !== this.route.topic.incarnation || d.groupHash !== own) {
        invalid++; continue;
      }
      refs.push({ leaseId: d.leaseId, offset: d.offset, attempt: d.attempt, groupHash: d.groupHash });
    }
    if (f.type === 'ack' && !this.fifo.any(st.key)) {
      // applied with the other acks of the next ACK_FLUSH_MS; at once in a FIFO group (an ack
      // releases the next message)
      this.reportInvalid(ws, invalid);
      if (refs.length) this.acks.push({ ws, group, key: st.key, refs, at: Date.now() });
      this.flushAcksSoon();
      return;
    }
    this.flushAcks(); // in the order they came
    const results = this.txn(() =>
      this.settle(group, refs, f.type === 'nack', f.type === 'nack' ? f.delayMs : undefined, Date.now(), st.key));
    this.reportInvalid(ws, invalid + results.filter((r) => r === 'INVALID').length);
    this.afterSettle();
  }

  private reportInvalid(ws: WebSocket, invalid: number): void {
    if (invalid) this.sendError(ws, new ApiError('INVALID_RECEIPT_HANDLE', `${invalid} receipt handle(s) are not of this group`));
  }

  /** An error frame on a push socket (a relay passes it on to its client). */
  private sendError(ws: WebSocket, e: unknown): void {
    try { ws.send(errorFrame(e)); } catch { /* the socket closed meanwhile */ }
  }

  private flushAcksSoon(): void {
    this.ackTimer ??= setTimeout(() => { this.ackTimer = null; this.flushAcks(); }, this.ackFlushMs);
  }

  /** A flush for when the oldest push lease still held has been out LEASE_HOLD_MS (if none is due sooner). */
  private writeHeldLater(): void {
    const at = this.consume.heldSince();
    if (at === null || this.holdTimer !== null) return;
    this.holdTimer = setTimeout(() => { this.holdTimer = null; this.flushAcks(); }, Math.max(0, at + this.leaseHoldMs - Date.now()) + 1);
  }

  /**
   * Applies the push acks received since the last flush, in one transaction, each as of its
   * arrival, and writes the push deliveries held back (ConsumeState.writeBehind) with them.
   */
  private flushAcks(): void {
    if (this.ackTimer !== null) { clearTimeout(this.ackTimer); this.ackTimer = null; }
    if (this.dropped) { this.acks = []; return; }
    const holdSince = Date.now() - this.leaseHoldMs;
    if (!this.acks.length) {
      if (this.consume.behind) this.txn(() => this.consume.writeBehind(holdSince));
      this.writeHeldLater();
      return;
    }
    const batch = this.acks;
    this.acks = [];
    const results = this.txn(() => {
      const r = batch.map((a) => this.settle(a.group, a.refs, false, undefined, a.at, a.key));
      this.consume.writeBehind(holdSince); // what has been out a while, still unacked after these acks
      return r;
    });
    this.writeHeldLater();
    batch.forEach((a, i) => this.reportInvalid(a.ws, results[i].filter((r) => r === 'INVALID').length));
    // no rearm: acks only take due work away (a lease deadline that goes leaves the alarm early,
    // which is harmless); nacks, which add some, are never buffered
    this.pump();
    if (this.waiters.size) this.wake();
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.socketGone(ws);
    try { ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closed'); } catch { /* already closed */ }
  }

  async webSocketError(ws: WebSocket): Promise<void> { this.socketGone(ws); }

  /**
   * A producer's socket for this queue's topic of one queue (routes/messages.ts): its sends are
   * this queue's appends, stored here without an RPC; it hibernates with the object when idle.
   * A send is answered once durable: the answer is a send on this object's socket, which workerd
   * holds behind the output gate until the commit of every write made before it is confirmed.
   */
  private produceSocket(t: TopicRoute): Response {
    const f = this.enter({ topic: t, queueId: 0 }, false);
    if (f) return Response.json({ error: f.failure }, { status: 404 });
    const pair = new WebSocketPair();
    const ws = pair[1];
    this.ctx.acceptWebSocket(ws, ['produce']);
    ws.serializeAttachment({ produce: t } satisfies ProducerAttachment);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  private producer(ws: WebSocket): ProduceChannel | null {
    const s = this.socketOf(ws);
    return s instanceof ProduceChannel ? s : null;
  }

  /**
   * A producer socket's append: this queue's here, another queue's (the topic grew) by RPC. Not
   * followed by `storage.sync()`: the channel's answer waits for the commit at the output gate
   * anyway (produceSocket), and awaiting sync() kept each append's async frame alive until a full
   * collection (what those freed in 3.5 s of the 1,000/s push flow: 13-15 MB with it, 8 without).
   * test/e2e/crash.test.ts kills the server under a channel and finds every answered send stored.
   */
  private storeFor(t: TopicRoute, q: number, out: Outgoing[], keys?: KeyRange[]): Promise<Produced[]> {
    const here = this.route !== null && q === this.route.queueId && t.incarnation === this.route.topic.incarnation;
    return storeOn(this.env, t, q, out, here ? this.here : undefined, keys);
  }

  /** A socket went away: a producer's channel sends nothing more; a consumer's unacked messages go back to the group at once. */
  private socketGone(ws: WebSocket): void {
    const st = this.socketOf(ws);
    if (st instanceof ProduceChannel) { st.gone(); return; }
    if (!st) return;
    this.flushAcks(); // what it acked is done, not returned
    this.saveSocketState(ws, null);
    this.clientCredit.closed(st.connId);
    this.txn(() => {
      this.returnLeases(st.connId, Date.now());
      this.pushFilters.drop(st.connId);
      this.socketFilters.delete(st.connId);
    });
    this.pump();
  }

  /** Each message a connection held is a failed delivery, redelivered with no backoff. */
  private returnLeases(connId: string, now: number): void {
    for (const l of this.consume.leasesOf(connId)) {
      this.consume.deleteLease(l.id);
      const cfg = this.consume.configOf(l.grp);
      if (cfg) for (const [off, attempt] of l.items) this.failed(l.grp, { off, attempt }, cfg, now, 0, 'EXPIRED', 'consumer disconnected');
    }
  }

  /** A push connection's filter (read once per connection: pump asks for it on every turn). */
  private socketFilter(connId: string): Predicate {
    let p = this.socketFilters.get(connId);
    if (!p) {
      const key = this.pushFilters.get(connId);
      this.socketFilters.set(connId, (p = this.predicate(key !== null ? parseFilterKey(key) : null)));
    }
    return p;
  }

  /**
   * Pushes what is available to the sockets that have credit, taking turns so that the
   * consumers of a group share the messages (RocketMQ 5's message-level load balancing).
   * A relay's socket out of credit with more to send says so once (`hungry`), and the relay grants
   * more; a client's own socket gets credit back as its acks come.
   */
  private pump(): void {
    if (this.pumping || !this.route) return;
    const sockets = this.ctx.getWebSockets();
    if (!sockets.length) return;
    this.pumping = true;
    let more = false;
    try {
      const now = Date.now();
      const turn = this.pumpTurn++;
      for (let i = 0; i < sockets.length; i++) {
        const ws = sockets[(turn + i) % sockets.length];
        const st = this.socketState(ws);
        if (!st) continue;
        const own = st.budget !== undefined; // the client's own socket, its credit kept here
        let credit = own ? this.clientCredit.left(st.connId, st.budget!) : st.credit;
        if (credit > 0 && this.available(st.key, now)) {
          const cfg = this.consume.configOf(st.key);
          if (!cfg) continue;
          const pred = this.socketFilter(st.connId);
          const before = this.consume.nextOf(st.key);
          const batch = this.txn(() => this.deliver(st.key, credit, pred, cfg.invisibleMs, st.connId, now, st.consumerId, true));
          if (batch.handles.length) {
            credit -= batch.handles.length;
            if (own) {
              this.clientCredit.pushed(st.connId, batch.handles);
              ws.send(`{"type":"messages","messages":[${batch.text}]}`);
            } else {
              // the handles on a first line, so that the relay forwards the big frame without parsing it
              ws.send(`${JSON.stringify({ type: 'handles', h: batch.handles })}\n{"type":"messages","messages":[${batch.text}]}`);
              st.credit = credit;
              this.saveSocketState(ws, st);
            }
          }
          // deliver scans a bounded stretch of the log: after a long run of filtered-out or held
          // messages it stops with credit left and more to read; go on in another turn (it moved on)
          if (credit > 0 && this.consume.nextOf(st.key) > before && this.available(st.key, now)) more = true;
        }
        if (!own && st.credit === 0 && !st.hungry && this.available(st.key, now)) {
          st.hungry = true;
          this.saveSocketState(ws, st);
          ws.send('{"type":"hungry"}');
        }
      }
    } finally {
      this.pumping = false;
    }
    if (more) setTimeout(() => this.pump(), 0);
  }

  /**
   * What a socket is, from its attachment, read once per object life. pump runs a few times for
   * each message at low rates, and reading the attachment on each turn (a structured clone) was a
   * good part of what the collector had to sweep. The attachment stays the record
   * (saveSocketState writes both), so a wake from hibernation reads it again; a producer's
   * channel is made anew from its attachment then.
   */
  private socketOf(ws: WebSocket): SocketState | ProduceChannel | null {
    let s = this.sockets.get(ws);
    if (s === undefined) {
      const a = ws.deserializeAttachment() as SocketState | ProducerAttachment | null;
      s = a === null || !('produce' in a) ? a
        : new ProduceChannel(this.env, ws, a.produce, (t, q, out, keys) => this.storeFor(t, q, out, keys));
      this.sockets.set(ws, s);
    }
    return s;
  }

  /** A consumer socket's state (null for a producer's socket, or one gone). */
  private socketState(ws: WebSocket): SocketState | null {
    const s = this.socketOf(ws);
    return s instanceof ProduceChannel ? null : s;
  }

  private saveSocketState(ws: WebSocket, st: SocketState | null): void {
    ws.serializeAttachment(st);
    this.sockets.set(ws, st);
  }

  private available(key: string, now: number): boolean {
    return this.consume.nextOf(key) < this.log.maxOffset || this.consume.hasDueRetry(key, now);
  }

  private pushConsumers(group: string): PushConsumer[] {
    return this.ctx.getWebSockets().map((ws) => this.socketState(ws))
      .filter((st): st is SocketState => !!st && st.group === group)
      .map((st) => ({ consumerId: st.consumerId, connectedAt: st.connectedAt }));
  }

  // ---- admin -------------------------------------------------------------------------------

  async status(route: QueueRoute): Promise<LogStatus & { queueId: number; scheduled: number } | Failure> {
    const f = this.enter(route); if (f) return f;
    return { queueId: route.queueId, ...this.log.status(), scheduled: this.schedule.count() };
  }

  /** The group's position here; `keys` are its state keys (several when broadcasting). */
  async groupStatus(route: QueueRoute, keys: string[] | { prefix: string }): Promise<QueueGroupStatus & { consumers: PullConsumer[]; pushConsumers: PushConsumer[] } | Failure> {
    const f = this.enter(route); if (f) return f;
    const list = Array.isArray(keys) ? keys : this.consume.groups().filter((g) => g.startsWith(keys.prefix));
    const end = this.log.maxOffset;
    let consumerOffset = Infinity, inflight = 0, retrying = 0;
    for (const k of list) {
      const s = this.consume.state(k);
      if (!s) continue;
      consumerOffset = Math.min(consumerOffset, s.consumerOffset, this.fifo.minOffset(k) ?? Infinity);
      inflight += s.inflight; retrying += s.retrying;
    }
    // offsets below the log's start were deleted by retention (a lease may still name one): none is lag
    consumerOffset = Math.max(consumerOffset === Infinity ? 0 : consumerOffset, this.log.minOffset);
    const name = Array.isArray(keys) ? keys[0] : keys.prefix.slice(0, -1);
    const seen = [...(this.pullConsumers.get(name) ?? new Map<string, number>())]
      .filter(([, t]) => Date.now() - t < 120_000).map(([consumerId, lastSeen]) => ({ consumerId, lastSeen }));
    return {
      queueId: route.queueId, brokerOffset: end, consumerOffset, lag: Math.max(end - consumerOffset, 0),
      inflight, retrying, consumers: seen, pushConsumers: this.pushConsumers(name),
    };
  }

  /** Moves a group to a new position; in-flight and retrying messages of the group are dropped. */
  async resetOffset(route: QueueRoute, c: ConsumerRef, to: ResetTarget): Promise<{ queueId: number; offset: number } | Failure> {
    const f = this.enter(route); if (f) return f;
    const min = this.log.minOffset, max = this.log.maxOffset;
    let off: number;
    if (to === 'EARLIEST') off = min;
    else if (to === 'LATEST') off = max;
    else if ('timestamp' in to) off = this.log.offsetForTimestamp(to.timestamp);
    else off = Math.min(Math.max(to.offset, min), max);
    this.txn(() => {
      if (c.group.mode === 'BROADCASTING' && c.consumerId === null) {
        for (const g of this.consume.groups()) if (g.startsWith(`${c.group.name}\u001f`)) { this.consume.reset(g, off); this.fifo.drop(g); }
      } else {
        this.ensureGroup(c);
        this.consume.reset(c.key, off);
        this.fifo.drop(c.key);
      }
    });
    this.wake();
    return { queueId: route.queueId, offset: off };
  }

  async dropGroup(route: QueueRoute, prefixOrKey: string): Promise<void | Failure> {
    const f = this.enter(route); if (f) return f;
    this.txn(() => {
      for (const g of this.consume.groups()) {
        if (g === prefixOrKey || g.startsWith(`${prefixOrKey}\u001f`)) { this.consume.drop(g); this.fifo.drop(g); }
      }
    });
    this.pullConsumers.delete(prefixOrKey);
  }

  /** The topic was deleted: every message and all state goes, and the object refuses further use. */
  async drop(): Promise<void> {
    if (this.traceTimer !== null) { clearTimeout(this.traceTimer); this.traceTimer = null; }
    this.tracer.discard();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.wake();
    this.tracer.discard(); // recorded while deleteAll ran
    migrate(this.sql, BROKER_MIGRATIONS, (fn) => this.ctx.storage.transactionSync(fn));
    this.meta.set('dropped', '1');
    this.dropped = true;
    this.alarmAt = null;
    this.reload(); // what was kept in memory about the deleted storage
  }

  // ---- due work ------------------------------------------------------------------------------

  /**
   * Makes sure the one alarm fires no later than `at`. A time already past means now: workerd
   * never fires an alarm set at 0, and, kept as `alarmAt`, it would hold back every later arming.
   */
  private armAlarm(at: number): void {
    if (Number.isNaN(at)) return;
    at = Math.max(at, Date.now());
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  async alarm(): Promise<void> {
    this.alarmAt = null;
    if (this.dropped || !this.route) return;
    const now = Date.now();
    const topic = this.route.topic;
    let woke = false;
    this.flushAcks(); // an ack that came before the deadline counts
    this.flushTrace(); // so that retention below sees every event
    this.txn(() => {
      // invisibility ran out: a failed attempt each
      for (const l of this.consume.expiredLeases(now)) {
        const cfg = this.consume.configOf(l.grp);
        this.consume.deleteLease(l.id);
        if (!cfg) continue;
        for (const [off, attempt] of l.items) this.failed(l.grp, { off, attempt }, cfg, now);
      }
      // scheduled messages that are due join the log, keeping their ids
      const due = this.schedule.due(now);
      if (due.length) {
        const recs = due.map((d) => ({ ...d.rec, i: encodeMessageId({ incarnation: topic.incarnation, queueId: this.route!.queueId, kind: IdKind.Pending, seq: d.seq }) }));
        const { base } = this.append(recs, due.map((d) => d.size), now);
        this.schedule.delivered(due.map((d) => d.seq), base, now);
        woke = true;
      }
      // retention
      const cut = now - topic.retentionHours * 3_600_000;
      if (this.log.deleteBefore(cut) > 0) {
        const min = this.log.minOffset;
        this.consume.dropBelow(min); this.fifo.dropBelow(min); this.keys.dropBelow(min);
      }
      // trace goes with the messages it is about (every alarm: a bounded step, cheap when done)
      this.tracer.purgeBelow(this.log.minOffset);
      this.dedup.purge(now);
      this.tracer.purgePending(this.schedule.purge(cut), (lo, hi) => this.schedule.anyIn(lo, hi));
      this.stats.purge(Math.floor(cut / 60_000));
      this.txs.purge(cut);
    });
    this.startChecks(now);
    if (woke || this.waiters.size) this.wake();
    await this.flushDeadLetters();
    this.pump();
    this.rearm();
  }

  /**
   * Sets the alarm for the earliest due work left: no later than it is now, or, when `exact`,
   * exactly then (later, or none at all), as after a check-back that decided its transaction.
   */
  private rearm(notBefore = Date.now() + 1, exact = false): void {
    const topic = this.route?.topic;
    const oldest = this.log.oldestTimestamp();
    const candidates = [
      this.consume.nextDue(Date.now(), this.dlqRetryAt), this.schedule.nextDue(), this.dedup.nextDue(), this.txs.nextDue(),
      oldest !== null && topic ? oldest + topic.retentionHours * 3_600_000 : null,
    ].filter((x): x is number => x !== null);
    if (exact && this.alarmAt !== null) {
      this.alarmAt = null;
      if (!candidates.length) void this.ctx.storage.deleteAlarm();
    }
    if (candidates.length) this.armAlarm(Math.max(Math.min(...candidates), notBefore));
  }

  /**
   * Moves messages that used up their deliveries to `%DLQ%{group}`: appended there first (with a
   * dedupId, so a retry after a crash stores nothing twice), then forgotten here.
   */
  private flushDeadLetters(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      try {
        for (;;) {
          const batch = this.consume.pendingDeadLetters(100);
          if (!batch.length) return;
          for (const d of batch) {
            const e = this.log.read(d.off);
            const dlqId = e ? await this.sendToDlq(d.grp, e, d.due) : null;
            this.consume.deadLettered(d.grp, d.off);
            this.trace('DEAD_LETTERED', [{ off: d.off }], { group: d.grp.split('\u001f')[0], dlqMessageId: dlqId }, Date.now());
          }
        }
      } catch (err) {
        console.error('dead-letter transfer failed, retrying', err);
        this.dlqRetryAt = Date.now() + RETRY_ALARM_MS;
        this.armAlarm(this.dlqRetryAt);
      }
      // cleared in .finally, which runs after the assignment even when the loop ends without
      // awaiting (nothing pending): a `finally` block here would run first and leave it set for good
    })().finally(() => { this.flushing = null; });
    return this.flushing;
  }

  private async sendToDlq(grpKey: string, e: LogEntry, markedAt: number): Promise<string> {
    const group = grpKey.split('\u001f')[0];
    const r = this.route!;
    const dlq = await nameServer(this.env).ensureSystemTopic(dlqTopicName(group));
    const originId = this.messageId(e.off, e.rec);
    const { i: _i, da: _da, ...rest } = e.rec;
    const rec: Rec = {
      ...rest,
      p: { ...(e.rec.p ?? {}), ORIGIN_TOPIC: r.topic.name, ORIGIN_MESSAGE_ID: originId, ORIGIN_QUEUE_ID: String(r.queueId) },
    };
    const res = await broker(this.env, dlq, 0).produce({ topic: dlq, queueId: 0 },
      [{ rec, size: rec.b.length, dedupId: `${originId}@${markedAt}` }]);
    if ('failure' in res) throw new Error(`DLQ append: ${res.failure.message}`);
    return res.messages[0].messageId;
  }
}
