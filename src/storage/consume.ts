/**
 * Consume state of the groups on one queue, kept beside the log so that delivering and acking
 * never leave the Broker object.
 *
 * For each group (or broadcasting consumer): `next`, the first offset never delivered; leases,
 * one row per receive holding the offsets still unacked from it; retries, the failed ones
 * waiting for their backoff or for the dead-letter queue. Everything below
 * min(next, leased, retrying) is done: that is the group's consumer offset.
 */
import { backoffMs } from '../model/backoff';
import type { RetryPolicy } from '../model/schemas';

export interface ConsumeConfig { maxRetries: number; retryPolicy: RetryPolicy; invisibleMs: number }

/** [offset, deliveryAttempt] */
export type Item = [number, number];

export interface Lease { grp: string; id: number; deadline: number; consumer: string | null; items: Item[] }

export interface Delivery { off: number; attempt: number }

/** A push delivery held back (see `behindLeases`), and when it went out. */
type HeldLease = Lease & { at: number };

/** A delivery taken out of its lease, or why not. */
export type Taken = (Delivery & { grp: string }) | 'EXPIRED' | 'INVALID';

export interface GroupQueueState { consumerOffset: number; inflight: number; retrying: number; next: number }

/** deliveries held in the lease cache: ~a few MB at most, well inside a Worker's 128 MB */
export const LEASE_CACHE_ITEMS = 50_000;

export class ConsumeState {
  private leaseSeq: number;
  /**
   * No lease deadline is earlier than this (null: no lease). Leases have no index on their
   * deadline (one more row written per receive): this is kept in memory instead, lowered by each
   * new lease and made exact again by the alarm's scan (`expiredLeases`) and by `resync`. A lease
   * that goes early leaves it early, which at worst wakes the alarm for nothing.
   */
  private earliest: number | null = null;
  /**
   * Reads the hot path makes on every push, ack and credit, cached: each entry is dropped or
   * updated by the writes that change it here, and all by `resync` (after a rollback).
   */
  private nextCache = new Map<string, number>();
  private configCache = new Map<string, ConsumeConfig | null>();
  /** groups whose row holds this config (its JSON), so that a pull on them reads no row */
  private ensured = new Map<string, string>();
  /** the earliest due time of a group's retries (not dead letters); Infinity: it has none */
  private retryDueCache = new Map<string, number>();
  /** whether the retries table is empty (null: not known) */
  private noRetries: boolean | null = null;
  /**
   * Push deliveries not written yet (`behind`), and the groups whose `next` (in nextCache) is ahead
   * of its row. The Broker's ack flush writes the leases that have been out a while (a consumer
   * acks most within milliseconds: a lease acked while held is never written, nor deleted), and
   * each group's `next` only up to the first delivery still held; any other read or write of
   * leases and offsets in storage writes them all first. Lost in a crash, held deliveries are
   * below the `next` written, so they are delivered again: at-least-once, as for the push acks
   * the Broker holds back.
   */
  private behindLeases = new Map<number, HeldLease>();
  private behindNext = new Set<string>();
  /** each group's `next` as writeBehind last wrote it (so that an unchanged one is not written again) */
  private writtenNext = new Map<string, number>();
  /**
   * Leases as stored, by id: those this instance wrote or read, so that the ack of a receive
   * reads no row back. The same objects that `take` changes and `saveLease` writes; dropped with
   * their rows, and all by `resync`. At most LEASE_CACHE_ITEMS deliveries (oldest leases go first).
   */
  private leaseCache = new Map<number, { l: Lease; n: number }>(); // n: its deliveries when cached
  private leaseCacheItems = 0;

  constructor(private sql: SqlStorage) {
    // Lease ids only grow (a superseded handle must never match a newer lease): seeded from the
    // clock in microseconds, and past the largest id stored.
    const max = sql.exec<{ m: number | null }>('SELECT MAX(id) AS m FROM leases').one().m ?? 0;
    this.leaseSeq = Math.max(Date.now() * 1000, max);
    this.resync();
  }

  /**
   * Reads the earliest lease deadline from storage (one scan of the in-flight leases): at start,
   * after a transaction was rolled back, after leases went in bulk.
   */
  resync(): void {
    this.behindLeases.clear(); // a rolled-back transaction may have written them: deliver again
    this.behindNext.clear();
    this.writtenNext.clear();
    this.uncacheLeases();
    this.nextCache.clear();
    this.configCache.clear();
    this.ensured.clear();
    this.retriesChanged();
    this.earliest = this.sql.exec<{ d: number | null }>('SELECT MIN(deadline) AS d FROM leases').one().d;
  }

  /**
   * Writes the push deliveries held back (see `behindLeases`), but for those that went out after
   * `holdSince`: they stay held, and their group's `next` is written only up to the first of
   * them. Call in a transaction.
   */
  writeBehind(holdSince = Infinity): void {
    if (!this.behindLeases.size && !this.behindNext.size) return;
    const held = new Map<string, number>(); // group -> first offset still held
    for (const l of this.behindLeases.values()) {
      if (l.at > holdSince) { // its first offset not acked yet: the row's `next` stays below it
        for (const [off] of l.items) held.set(l.grp, Math.min(held.get(l.grp) ?? Infinity, off));
        continue;
      }
      this.behindLeases.delete(l.id);
      const { at: _at, ...lease } = l;
      this.insertLease(lease);
    }
    for (const g of this.behindNext) {
      const next = Math.min(this.nextCache.get(g)!, held.get(g) ?? Infinity);
      if (!held.has(g)) this.behindNext.delete(g);
      if (this.writtenNext.get(g) === next) continue;
      this.sql.exec('UPDATE cgroups SET next = ? WHERE grp = ?', next, g);
      this.writtenNext.set(g, next);
    }
  }

  /** Whether push deliveries are held back, to be written by `writeBehind`. */
  get behind(): boolean { return this.behindLeases.size > 0 || this.behindNext.size > 0; }

  /** When the earliest push delivery still held went out (null: none is). */
  heldSince(): number | null {
    let at: number | null = null;
    for (const l of this.behindLeases.values()) if (at === null || l.at < at) at = l.at;
    return at;
  }

  /** The group's `next` offset, creating its row from `start` when it has none yet. */
  ensureGroup(grp: string, start: () => number, config: ConsumeConfig): number {
    this.writeBehind();
    const cfg = JSON.stringify(config);
    const known = this.nextCache.get(grp);
    if (known !== undefined && this.ensured.get(grp) === cfg) return known;
    const row = this.sql.exec<{ next: number; config: string }>('SELECT next, config FROM cgroups WHERE grp = ?', grp).toArray()[0];
    this.configCache.set(grp, JSON.parse(cfg));
    this.ensured.set(grp, cfg);
    if (!row) {
      const next = start();
      this.sql.exec('INSERT INTO cgroups (grp, next, config) VALUES (?, ?, ?)', grp, next, cfg);
      this.nextCache.set(grp, next);
      this.writtenNext.set(grp, next);
      return next;
    }
    if (row.config !== cfg) this.sql.exec('UPDATE cgroups SET config = ? WHERE grp = ?', cfg, grp);
    this.nextCache.set(grp, row.next);
    this.writtenNext.set(grp, row.next);
    return row.next;
  }

  /** The group's `next` offset (0 for a group not seen yet). */
  nextOf(grp: string): number {
    const c = this.nextCache.get(grp);
    if (c !== undefined) return c;
    const row = this.sql.exec<{ next: number }>('SELECT next FROM cgroups WHERE grp = ?', grp).toArray()[0];
    if (row) this.nextCache.set(grp, row.next);
    return row?.next ?? 0;
  }

  hasGroup(grp: string): boolean {
    return this.sql.exec('SELECT 1 FROM cgroups WHERE grp = ?', grp).toArray().length > 0;
  }

  groups(): string[] {
    return this.sql.exec<{ grp: string }>('SELECT grp FROM cgroups').toArray().map((r) => r.grp);
  }

  configOf(grp: string): ConsumeConfig | null {
    if (this.configCache.has(grp)) return this.configCache.get(grp)!;
    const row = this.sql.exec<{ config: string }>('SELECT config FROM cgroups WHERE grp = ?', grp).toArray()[0];
    const cfg = row ? JSON.parse(row.config) as ConsumeConfig : null;
    this.configCache.set(grp, cfg);
    return cfg;
  }

  /** Moves the group's `next`; `behind`: written later (a push delivery, see `behindLeases`). */
  setNext(grp: string, next: number, behind = false): void {
    this.nextCache.set(grp, next);
    if (behind) { this.behindNext.add(grp); return; }
    this.behindNext.delete(grp); // written below, once
    this.writeBehind();
    this.writtenNext.set(grp, next);
    this.sql.exec('UPDATE cgroups SET next = ? WHERE grp = ?', next, grp);
  }

  /** A write to a group's retries (any group's when `grp` is absent) drops what was cached about them. */
  private retriesChanged(grp?: string): void {
    if (grp === undefined) this.retryDueCache.clear(); else this.retryDueCache.delete(grp);
    this.noRetries = null;
  }

  /** The earliest due time of the group's retries (Infinity: none). */
  private retryDue(grp: string): number {
    let d = this.retryDueCache.get(grp);
    if (d === undefined) {
      d = this.nextRetryDueSql(grp) ?? Infinity;
      this.retryDueCache.set(grp, d);
    }
    return d;
  }

  /** Retries whose backoff has run out, oldest due first. */
  dueRetries(grp: string, now: number, limit: number): Delivery[] {
    if (this.retryDue(grp) > now) return [];
    return this.sql.exec<{ off: number; attempt: number }>(
      'SELECT off, attempt FROM retries WHERE grp = ? AND dlq = 0 AND due <= ? ORDER BY due LIMIT ?', grp, now, limit,
    ).toArray();
  }

  removeRetries(grp: string, offs: number[]): void {
    if (!offs.length) return;
    this.writeBehind();
    for (const off of offs) this.sql.exec('DELETE FROM retries WHERE grp = ? AND off = ?', grp, off);
    this.retriesChanged(grp);
  }

  hasDueRetry(grp: string, now: number): boolean {
    return this.retryDue(grp) <= now;
  }

  nextRetryDue(grp: string): number | null {
    const d = this.retryDue(grp);
    return d === Infinity ? null : d;
  }

  private nextRetryDueSql(grp: string): number | null {
    return this.sql.exec<{ d: number | null }>('SELECT MIN(due) AS d FROM retries WHERE grp = ? AND dlq = 0', grp).one().d;
  }

  /**
   * Records one receive's deliveries as one lease row; returns its id. `heldAt`: the time of a push
   * delivery of messages that were never out before, held in memory until `writeBehind` (see
   * `behindLeases`).
   */
  lease(grp: string, items: Item[], deadline: number, consumer: string | null, heldAt?: number): number {
    const l: Lease = { grp, id: ++this.leaseSeq, deadline, consumer, items };
    if (heldAt !== undefined) {
      this.behindLeases.set(l.id, { ...l, at: heldAt });
      this.behindNext.add(grp);
    } else { this.writeBehind(); this.insertLease(l); }
    if (this.earliest === null || deadline < this.earliest) this.earliest = deadline;
    return l.id;
  }

  private insertLease(l: Lease): void {
    this.sql.exec('INSERT INTO leases (id, grp, deadline, min_off, consumer, items) VALUES (?, ?, ?, ?, ?, ?)',
      l.id, l.grp, l.deadline, Math.min(...l.items.map((i) => i[0])), l.consumer, JSON.stringify(l.items));
    this.cacheLease(l);
  }

  private loadLease(id: number): Lease | null {
    const known = this.behindLeases.get(id) ?? this.leaseCache.get(id)?.l;
    if (known) return known;
    const r = this.sql.exec<{ grp: string; deadline: number; consumer: string | null; items: string }>(
      'SELECT grp, deadline, consumer, items FROM leases WHERE id = ?', id).toArray()[0];
    if (!r) return null;
    const l: Lease = { grp: r.grp, id, deadline: r.deadline, consumer: r.consumer, items: JSON.parse(r.items) };
    this.cacheLease(l);
    return l;
  }

  private saveLease(l: Lease): void {
    if (this.behindLeases.has(l.id)) { if (l.items.length === 0) this.behindLeases.delete(l.id); return; } // never written
    if (l.items.length === 0) {
      this.sql.exec('DELETE FROM leases WHERE id = ?', l.id);
      this.uncacheLease(l.id);
    } else {
      this.sql.exec('UPDATE leases SET items = ?, min_off = ? WHERE id = ?',
        JSON.stringify(l.items), Math.min(...l.items.map((i) => i[0])), l.id);
    }
  }

  /** Counted by its deliveries when cached (an upper bound after that: `take` only removes). */
  private cacheLease(l: Lease): void {
    this.uncacheLease(l.id);
    this.leaseCache.set(l.id, { l, n: l.items.length });
    this.leaseCacheItems += l.items.length;
    for (const [id] of this.leaseCache) {
      if (this.leaseCacheItems <= LEASE_CACHE_ITEMS) break;
      this.uncacheLease(id);
    }
  }

  private uncacheLease(id: number): void {
    const c = this.leaseCache.get(id);
    if (!c) return;
    this.leaseCache.delete(id);
    this.leaseCacheItems -= c.n;
  }

  private uncacheLeases(): void {
    this.leaseCache.clear();
    this.leaseCacheItems = 0;
  }

  /**
   * Takes deliveries out of their leases (for ack, nack, change-invisibility). A delivery whose
   * lease has run out, or that was superseded by a later delivery, is EXPIRED and untouched.
   * Each touched lease row is written once, however many of its handles come together.
   */
  take(owns: (grp: string, ref: { groupHash?: number }) => boolean,
       refs: { leaseId: number; off: number; attempt: number; groupHash?: number }[], now: number): Taken[] {
    const leases = new Map<number, Lease | null>();
    const touched = new Set<Lease>();
    const out = refs.map((r): Taken => {
      if (!leases.has(r.leaseId)) leases.set(r.leaseId, this.loadLease(r.leaseId));
      const l = leases.get(r.leaseId);
      if (l && !owns(l.grp, r)) return 'INVALID' as const; // checked before anything is taken
      if (!l || l.deadline <= now) return 'EXPIRED' as const;
      const i = l.items.findIndex(([o, a]) => o === r.off && a === r.attempt);
      if (i < 0) return 'EXPIRED' as const;
      l.items.splice(i, 1);
      touched.add(l);
      return { grp: l.grp, off: r.off, attempt: r.attempt };
    });
    for (const l of touched) this.saveLease(l);
    return out;
  }

  /**
   * A failed delivery: schedules the next attempt after the backoff (or `delayMs`), or, when it
   * was the last allowed delivery, marks it for the dead-letter queue. Returns which.
   */
  fail(grp: string, d: Delivery, cfg: ConsumeConfig, now: number, delayMs?: number): 'RETRY' | 'DLQ' {
    this.writeBehind();
    this.retriesChanged(grp);
    if (d.attempt >= 1 + cfg.maxRetries) {
      this.sql.exec('INSERT OR REPLACE INTO retries (grp, off, attempt, due, dlq) VALUES (?, ?, ?, ?, 1)', grp, d.off, d.attempt, now);
      return 'DLQ';
    }
    const due = now + (delayMs ?? backoffMs(cfg.retryPolicy, d.attempt));
    this.sql.exec('INSERT OR REPLACE INTO retries (grp, off, attempt, due, dlq) VALUES (?, ?, ?, ?, 0)', grp, d.off, d.attempt + 1, due);
    return 'RETRY';
  }

  /**
   * Leases whose invisibility ran out by `now`, earliest first, up to `limit`; the caller fails
   * their items and deletes them. One scan of the in-flight leases (the alarm's; there is no index
   * on deadline), which also makes the earliest deadline of the others exact again.
   */
  expiredLeases(now: number, limit = 200): Lease[] {
    this.writeBehind();
    const rows = this.sql.exec<{ grp: string; id: number; deadline: number; consumer: string | null; items: string | null }>(
      'SELECT grp, id, deadline, consumer, CASE WHEN deadline <= ? THEN items END AS items FROM leases', now).toArray();
    const expired = rows.filter((r) => r.deadline <= now).sort((a, b) => a.deadline - b.deadline || a.id - b.id).slice(0, limit);
    const taken = new Set(expired.map((r) => r.id));
    let earliest: number | null = null;
    for (const r of rows) if (!taken.has(r.id) && (earliest === null || r.deadline < earliest)) earliest = r.deadline;
    this.earliest = earliest;
    return expired.map((r) => ({ ...r, items: JSON.parse(r.items!) as Item[] }));
  }

  /** Leases held by one consumer connection (push), to return when it goes. */
  leasesOf(consumer: string): Lease[] {
    this.writeBehind();
    return this.sql.exec<{ grp: string; id: number; deadline: number; consumer: string | null; items: string }>(
      'SELECT grp, id, deadline, consumer, items FROM leases WHERE consumer = ?', consumer,
    ).toArray().map((r) => ({ ...r, items: JSON.parse(r.items) as Item[] }));
  }

  /** Consumers that hold leases and whose ids start with `prefix`. */
  leaseHolders(prefix: string): string[] {
    return this.sql.exec<{ c: string }>('SELECT DISTINCT consumer AS c FROM leases WHERE consumer >= ? AND consumer < ?',
      prefix, `${prefix}\uffff`).toArray().map((r) => r.c);
  }

  /** Puts a released FIFO message (or any message) up for delivery at once. */
  release(grp: string, off: number, attempt: number, now: number): void {
    this.writeBehind();
    this.retriesChanged(grp);
    this.sql.exec('INSERT OR REPLACE INTO retries (grp, off, attempt, due, dlq) VALUES (?, ?, ?, ?, 0)', grp, off, attempt, now);
  }

  deleteLease(id: number): void {
    if (this.behindLeases.delete(id)) return;
    this.sql.exec('DELETE FROM leases WHERE id = ?', id);
    this.uncacheLease(id);
  }

  /** Dead letters waiting to be moved, oldest first. */
  pendingDeadLetters(limit: number): { grp: string; off: number; attempt: number; due: number }[] {
    return this.sql.exec<{ grp: string; off: number; attempt: number; due: number }>(
      'SELECT grp, off, attempt, due FROM retries WHERE dlq = 1 ORDER BY due LIMIT ?', limit).toArray();
  }

  /**
   * Where the delivery of `off` to the group stands, if it is not done: waiting for the dead-letter
   * queue, waiting for its retry, or out in a lease (push deliveries not written yet included).
   */
  whereIs(grp: string, off: number): 'DLQ' | 'RETRYING' | 'INFLIGHT' | null {
    const r = this.sql.exec<{ dlq: number }>('SELECT dlq FROM retries WHERE grp = ? AND off = ?', grp, off).toArray()[0];
    if (r) return r.dlq ? 'DLQ' : 'RETRYING';
    for (const l of this.behindLeases.values()) if (l.grp === grp && l.items.some(([o]) => o === off)) return 'INFLIGHT';
    const leased = this.sql.exec(`SELECT 1 FROM leases, json_each(leases.items) je
      WHERE leases.grp = ? AND leases.min_off <= ? AND json_extract(je.value, '$[0]') = ? LIMIT 1`, grp, off, off).toArray().length;
    return leased ? 'INFLIGHT' : null;
  }

  deadLettered(grp: string, off: number): void {
    this.retriesChanged(grp);
    this.sql.exec('DELETE FROM retries WHERE grp = ? AND off = ? AND dlq = 1', grp, off);
  }

  /** Where the group stands, push deliveries still held counted in (without writing them). */
  state(grp: string): GroupQueueState | null {
    const g = this.sql.exec<{ next: number }>('SELECT next FROM cgroups WHERE grp = ?', grp).toArray()[0];
    if (!g) return null;
    const next = this.nextCache.get(grp) ?? g.next;
    const l = this.sql.exec<{ m: number | null; n: number | null }>(
      'SELECT MIN(min_off) AS m, SUM(json_array_length(items)) AS n FROM leases WHERE grp = ?', grp).one();
    let leased = l.m ?? Infinity, inflight = l.n ?? 0;
    for (const h of this.behindLeases.values()) {
      if (h.grp !== grp) continue;
      inflight += h.items.length;
      for (const [off] of h.items) leased = Math.min(leased, off);
    }
    const r = this.sql.exec<{ m: number | null; n: number }>(
      'SELECT MIN(off) AS m, COUNT(*) AS n FROM retries WHERE grp = ?', grp).one();
    const consumerOffset = Math.min(next, leased, r.m ?? Infinity);
    return { consumerOffset, inflight, retrying: r.n, next };
  }

  /** Moves the group to `next`, dropping its in-flight and retrying messages (RocketMQ's reset). */
  reset(grp: string, next: number): void {
    this.writeBehind();
    this.retriesChanged(grp);
    this.nextCache.delete(grp);
    this.sql.exec('DELETE FROM leases WHERE grp = ?', grp);
    this.sql.exec('DELETE FROM retries WHERE grp = ?', grp);
    this.sql.exec('UPDATE cgroups SET next = ? WHERE grp = ?', next, grp);
    this.resync();
  }

  drop(grp: string): void {
    this.writeBehind();
    this.retriesChanged(grp);
    this.nextCache.delete(grp);
    this.configCache.delete(grp);
    this.ensured.delete(grp);
    this.sql.exec('DELETE FROM leases WHERE grp = ?', grp);
    this.sql.exec('DELETE FROM retries WHERE grp = ?', grp);
    this.sql.exec('DELETE FROM cgroups WHERE grp = ?', grp);
    this.resync();
  }

  /** Forgets offsets that retention deleted. */
  dropBelow(minOffset: number): void {
    this.writeBehind();
    this.retriesChanged();
    this.nextCache.clear();
    this.writtenNext.clear();
    this.sql.exec('DELETE FROM retries WHERE off < ?', minOffset);
    this.sql.exec('UPDATE cgroups SET next = ? WHERE next < ?', minOffset, minOffset);
  }

  /**
   * Earliest due work of the consume side: a lease deadline (kept in memory, possibly early: see
   * `earliest`), a retry not yet due, a pending dead letter. A retry already due waits for a
   * receive (its long polls were woken when it came due), so it needs no alarm: counting it would
   * re-fire the alarm every millisecond until then.
   */
  nextDue(now = -1, deadLettersNotBefore = 0): number | null {
    const a = this.earliest;
    this.noRetries ??= this.sql.exec('SELECT 1 FROM retries LIMIT 1').toArray().length === 0;
    if (this.noRetries) return a;
    const b = this.sql.exec<{ d: number | null }>('SELECT MIN(due) AS d FROM retries WHERE dlq = 0 AND due > ?', now).one().d;
    let c = this.sql.exec<{ d: number | null }>('SELECT MIN(due) AS d FROM retries WHERE dlq = 1').one().d;
    // a failed dead-letter transfer waits for its retry time, not at once again
    if (c !== null) c = Math.max(c, deadLettersNotBefore);
    const all = [a, b, c].filter((x): x is number => x !== null);
    return all.length ? Math.min(...all) : null;
  }
}
