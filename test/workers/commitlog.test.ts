/**
 * The commit log against the real SQLite of a Durable Object: the Broker's constructor migrates
 * the schema, and each test builds its own CommitLog on it.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Rec } from '../../src/model/message';
import { CommitLog } from '../../src/storage/commitlog';
import { BROKER_MIGRATIONS, migrate } from '../../src/storage/schema';
import { sqlMeta } from './helpers';

type Ctx = { sql: SqlStorage; log: CommitLog; fresh: () => CommitLog; txn: <T>(fn: () => T) => T };

/** Runs `fn` inside a fresh Broker object with a CommitLog over its migrated storage. */
function withLog<R>(fn: (c: Ctx) => R | Promise<R>, name = 't/0/x'): Promise<R> {
  const stub = env.BROKER.get(env.BROKER.idFromName(name));
  return runInDurableObject(stub, (_instance, state) => {
    const sql = state.storage.sql;
    migrate(sql, BROKER_MIGRATIONS); // already done by the constructor: a second run is a no-op
    const fresh = () => new CommitLog(sql, sqlMeta(sql));
    return fn({ sql, log: fresh(), fresh, txn: (f) => state.storage.transactionSync(f) });
  });
}

const rec = (b: string, extra: Partial<Rec> = {}): Rec => ({ b, e: 0, bt: 1, ...extra });
const utf8 = (s: string) => new TextEncoder().encode(s).length;
const segments = (sql: SqlStorage) =>
  sql.exec<{ base: number; n: number; ts: number; bytes: number; len: number }>(
    'SELECT base, n, ts, bytes, length(CAST(data AS BLOB)) AS len FROM segments ORDER BY base').toArray();

describe('schema', () => {
  it('migrates once and records the version', async () => {
    await withLog(({ sql }) => {
      expect(sql.exec<{ v: number }>('SELECT v FROM schema_version').one().v).toBe(BROKER_MIGRATIONS.length);
      migrate(sql, BROKER_MIGRATIONS);
      expect(sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM schema_version').one().n).toBe(1);
      const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((r) => r.name);
      // (the migrations' `dedup` table is gone: the Broker drops it empty, see storage/dedup.ts)
      for (const t of ['meta', 'segments', 'bigbodies', 'scheduled', 'cgroups', 'leases', 'retries']) expect(tables).toContain(t);
    });
  });

  it('really caps a row near 2 MB (so splitting is needed)', async () => {
    await withLog(({ sql }) => {
      expect(() => sql.exec('INSERT INTO meta (k, v) VALUES (?, ?)', 'big', 'x'.repeat(2_500_000))).toThrow();
    });
  });
});

describe('CommitLog', () => {
  it('starts empty', async () => {
    await withLog(({ log }) => {
      expect(log.status()).toEqual({ minOffset: 0, maxOffset: 0, lastStoreTimestamp: null, messages: 0, bytes: 0 });
      expect(log.read(0)).toBeNull();
      expect(log.offsetForTimestamp(0)).toBe(0);
      expect(log.oldestTimestamp()).toBeNull();
      expect(log.deleteBefore(Date.now())).toBe(0);
    });
  });

  it('appends and reads back every field, offsets continuing across batches', async () => {
    await withLog(({ sql, log }) => {
      const a = rec('hello', { t: 'tagA', k: ['k1', 'k2'], p: { x: '1' }, bt: 42 });
      const b = rec('{"n":1}', { e: 1, g: 'order-7' });
      const c = rec('AAEC', { e: 2 });
      expect(log.append([a, b], [5, 7], 1000)).toEqual({ base: 0, ts: 1000 });
      expect(log.append([c], [3], 2000)).toEqual({ base: 2, ts: 2000 });
      expect(log.read(0)).toEqual({ off: 0, ts: 1000, rec: a });
      expect(log.read(1)).toEqual({ off: 1, ts: 1000, rec: b });
      expect(log.read(2)).toEqual({ off: 2, ts: 2000, rec: c });
      expect(log.read(3)).toBeNull();
      expect(log.read(-1)).toBeNull();
      expect(log.status()).toEqual({ minOffset: 0, maxOffset: 3, lastStoreTimestamp: 2000, messages: 3, bytes: 15 });
      // one row per appended batch, not per message
      expect(segments(sql).map((s) => [s.base, s.n, s.ts, s.bytes])).toEqual([[0, 2, 1000, 12], [2, 1, 2000, 3]]);
    });
  });

  it('never lets store times go backwards', async () => {
    await withLog(({ log }) => {
      log.append([rec('a')], [1], 5000);
      expect(log.append([rec('b')], [1], 4000)).toEqual({ base: 1, ts: 5000 });
      expect(log.read(1)!.ts).toBe(5000);
    });
  });

  it('keeps the message id of a record that has one (scheduled messages)', async () => {
    await withLog(({ log }) => {
      log.append([{ ...rec('s'), i: 'ABCDEF0100100000000000007' }], [1], 1);
      expect(log.read(0)!.rec.i).toBe('ABCDEF0100100000000000007');
    });
  });

  it('splits a batch into several segment rows under the 2 MB row limit', async () => {
    await withLog(({ sql, log, fresh }) => {
      const bodies = ['a', 'b', 'c'].map((ch) => ch.repeat(500 * 1024));
      const { base } = log.append(bodies.map((b) => rec(b)), bodies.map((b) => b.length), 1000);
      expect(base).toBe(0);
      const segs = segments(sql);
      expect(segs.length).toBeGreaterThanOrEqual(2);
      expect(segs.reduce((n, s) => n + s.n, 0)).toBe(3);
      expect(segs.map((s) => s.base)).toEqual(segs.map((_, i) => segs.slice(0, i).reduce((n, s) => n + s.n, 0)));
      for (const s of segs) expect(s.len).toBeLessThan(2_000_000);
      expect(segs.reduce((n, s) => n + s.bytes, 0)).toBe(3 * 500 * 1024);
      expect(sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM bigbodies').one().n).toBe(0);
      const again = fresh();
      for (const l of [log, again]) for (let i = 0; i < 3; i++) expect(l.read(i)!.rec.b).toBe(bodies[i]);
      // a following small batch goes on at offset 3
      expect(log.append([rec('d')], [1], 1001).base).toBe(3);
      expect(log.read(3)!.rec.b).toBe('d');
    });
  });

  it('splits multi-byte text by bytes, not characters', async () => {
    await withLog(({ sql, log }) => {
      // 3 bytes a character: 4 x 200k chars = 2.4 MB in all
      const bodies = ['中', '文', '字', '串'].map((ch) => ch.repeat(200_000));
      log.append(bodies.map((b) => rec(b)), bodies.map(utf8), 1);
      for (const s of segments(sql)) expect(s.len).toBeLessThan(2_000_000);
      bodies.forEach((b, i) => expect(log.read(i)!.rec.b).toBe(b));
    });
  });

  it('keeps a 3 MiB body in bigbodies parts and reads it back intact', async () => {
    await withLog(({ sql, log, fresh }) => {
      const ascii = 'x'.repeat(3 * 1024 * 1024);
      const unit = 'ÄÖü中文😀-';
      const mixed = unit.repeat(Math.ceil((3 * 1024 * 1024) / utf8(unit)));
      const recs = [rec('before'), rec(ascii, { t: 'big', p: { a: 'b' } }), rec(mixed, { e: 0 }), rec('after')];
      log.append(recs, recs.map((r) => utf8(r.b)), 1000);
      const parts = sql.exec<{ off: number; n: number; bytes: number }>(
        'SELECT off, COUNT(*) AS n, SUM(length(data)) AS bytes FROM bigbodies GROUP BY off ORDER BY off').toArray();
      expect(parts).toEqual([
        { off: 1, n: 3, bytes: 3 * 1024 * 1024 },
        { off: 2, n: Math.ceil(utf8(mixed) / (1024 * 1024)), bytes: utf8(mixed) },
      ]);
      for (const s of segments(sql)) expect(s.len).toBeLessThan(2_000_000);
      for (const l of [log, fresh()]) {
        expect(l.read(0)!.rec.b).toBe('before');
        const big = l.read(1)!.rec;
        expect(big.b.length).toBe(ascii.length);
        expect(big.b === ascii).toBe(true);
        expect(big).toMatchObject({ t: 'big', p: { a: 'b' } });
        expect('x' in big).toBe(false); // the part count stays internal
        expect(l.read(2)!.rec.b === mixed).toBe(true);
        expect(l.read(3)!.rec.b).toBe('after');
      }
    });
  });

  it('finds the first offset stored at or after a time', async () => {
    await withLog(({ log }) => {
      log.append([rec('a'), rec('b')], [1, 1], 1000);
      log.append([rec('c'), rec('d')], [1, 1], 2000);
      log.append([rec('e'), rec('f')], [1, 1], 3000);
      expect(log.offsetForTimestamp(0)).toBe(0);
      expect(log.offsetForTimestamp(1000)).toBe(0);
      expect(log.offsetForTimestamp(1001)).toBe(2);
      expect(log.offsetForTimestamp(2000)).toBe(2);
      expect(log.offsetForTimestamp(3000)).toBe(4);
      expect(log.offsetForTimestamp(3001)).toBe(6); // none: the end
      expect(log.oldestTimestamp()).toBe(1000);
    });
  });

  it('finds offsets by time by binary search over many segments (no index on time), also after retention', async () => {
    await withLog(({ sql, log }) => {
      expect(sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name = 'segments'").toArray()).toEqual([]);
      // 300 segments of 1..7 messages; times rise by 0..3 ms (runs of equal times), one clock step back
      const ts: number[] = []; // store time of each offset
      let t = 10_000;
      for (let i = 0; i < 300; i++) {
        const n = 1 + (i * 5) % 7;
        t += i % 4;
        const now = i === 150 ? t - 500 : t; // the clock went back: stored at the last time instead
        const r = log.append(Array.from({ length: n }, (_, k) => rec(`${i}.${k}`)), Array(n).fill(1), now);
        for (let k = 0; k < n; k++) ts.push(r.ts);
      }
      const want = (x: number, from = 0) => { const i = ts.findIndex((s, o) => o >= from && s >= x); return i < 0 ? ts.length : i; };
      for (let x = 9_990; x <= t + 2; x++) expect(log.offsetForTimestamp(x), `t=${x}`).toBe(want(x));
      // each answer is a stored message whose time is ≥ x, and the one before it is older
      const o = log.offsetForTimestamp(10_200);
      expect(log.read(o)!.ts).toBeGreaterThanOrEqual(10_200);
      expect(log.read(o - 1)!.ts).toBeLessThan(10_200);
      // retention: deletes exactly the segments stored before the cutoff, and lookups start at the new first
      const cut = 10_150;
      const gone = want(cut);
      expect(log.deleteBefore(cut)).toBe(gone);
      expect(log.minOffset).toBe(gone);
      expect(log.oldestTimestamp()).toBe(ts[gone]);
      expect(log.offsetForTimestamp(0)).toBe(gone);
      for (let x = cut - 5; x <= t + 1; x += 3) expect(log.offsetForTimestamp(x), `t=${x}`).toBe(want(x, gone));
      expect(log.deleteBefore(cut)).toBe(0);
    });
  });

  it('deletes whole segments before a cutoff (retention), big bodies with them', async () => {
    await withLog(({ sql, log, fresh }) => {
      const big = 'y'.repeat(700_000);
      log.append([rec('a'), rec(big)], [1, big.length], 1000);
      log.append([rec('c'), rec('d')], [1, 1], 2000);
      log.append([rec('e')], [1], 3000);
      expect(log.read(0)!.rec.b).toBe('a'); // cached now: the cache must forget it too
      expect(sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM bigbodies').one().n).toBe(1);

      expect(log.deleteBefore(1000)).toBe(0);
      expect(log.deleteBefore(2500)).toBe(4);
      expect(log.status()).toEqual({ minOffset: 4, maxOffset: 5, lastStoreTimestamp: 3000, messages: 1, bytes: 1 });
      expect(log.read(0)).toBeNull();
      expect(log.read(1)).toBeNull();
      expect(log.read(3)).toBeNull();
      expect(log.read(4)!.rec.b).toBe('e');
      expect(sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM bigbodies').one().n).toBe(0);
      expect(log.offsetForTimestamp(0)).toBe(4);
      expect(log.oldestTimestamp()).toBe(3000);
      expect(fresh().status()).toEqual(log.status());
    });
  });

  it('respects the segment batch limit of deleteBefore', async () => {
    await withLog(({ log }) => {
      for (let i = 0; i < 5; i++) log.append([rec(`m${i}`)], [1], 1000 + i);
      expect(log.deleteBefore(10_000, 2)).toBe(2);
      expect(log.minOffset).toBe(2);
      expect(log.deleteBefore(10_000, 2)).toBe(2);
      expect(log.deleteBefore(10_000, 2)).toBe(1);
      expect(log.minOffset).toBe(5);
    });
  });

  it('keeps its end and last store time when retention empties it, across a reload', async () => {
    await withLog(({ log, fresh }) => {
      log.append([rec('a'), rec('b'), rec('c')], [1, 1, 1], 1000);
      expect(log.deleteBefore(5000)).toBe(3);
      const want = { minOffset: 3, maxOffset: 3, lastStoreTimestamp: 1000, messages: 0, bytes: 0 };
      expect(log.status()).toEqual(want);
      const reloaded = fresh();
      expect(reloaded.status()).toEqual(want);
      expect(reloaded.offsetForTimestamp(0)).toBe(3);
      // appending continues at the old end, never reusing an offset, and time does not go back
      expect(reloaded.append([rec('d')], [1], 500)).toEqual({ base: 3, ts: 1000 });
      expect(reloaded.read(3)!.rec.b).toBe('d');
      expect(fresh().status()).toEqual({ minOffset: 3, maxOffset: 4, lastStoreTimestamp: 1000, messages: 1, bytes: 1 });
    });
  });

  it('reads what it appended from memory, as stored, and forgets an append that was rolled back', async () => {
    await withLog(({ sql, fresh, txn }) => {
      const reads: string[] = [];
      const counted = { exec: (q: string, ...b: SqlStorageValue[]) => { if (q.startsWith('SELECT')) reads.push(q); return sql.exec(q, ...b); } } as unknown as SqlStorage;
      const log = new CommitLog(counted, sqlMeta(sql));
      reads.length = 0;
      log.append([rec('a', { t: 't', p: { k: 'v' } }), rec('b')], [1, 1], 1000);
      log.append([rec('c')], [1], 2000);
      expect([log.minOffset, log.oldestTimestamp()]).toEqual([0, 1000]);
      expect([0, 1, 2].map((o) => log.read(o))).toEqual([0, 1, 2].map((o) => fresh().read(o)));
      expect(reads).toEqual([]); // the end of the log, its start and the new segments: all known
      // a transaction that appended throws: the Broker resyncs the log (Broker.txn)
      expect(() => txn(() => {
        log.append([rec('d')], [1], 3000);
        expect(log.read(3)!.rec.b).toBe('d');
        throw new Error('rolled back');
      })).toThrow('rolled back');
      log.resync();
      expect(log.maxOffset).toBe(3);
      expect(log.read(3)).toBeNull();
      expect(log.append([rec('e')], [1], 3000).base).toBe(3);
      expect(fresh().read(3)!.rec.b).toBe('e');
    });
  });

  it('keeps its first segment in memory across retention and an append to an emptied log', async () => {
    await withLog(({ log, fresh }) => {
      expect([log.minOffset, log.oldestTimestamp()]).toEqual([0, null]);
      log.append([rec('a')], [1], 1000);
      expect([log.minOffset, log.oldestTimestamp()]).toEqual([0, 1000]);
      log.append([rec('b')], [1], 2000);
      expect(log.deleteBefore(1500)).toBe(1);
      expect([log.minOffset, log.oldestTimestamp()]).toEqual([1, 2000]);
      expect(log.deleteBefore(5000)).toBe(1);
      expect([log.minOffset, log.oldestTimestamp()]).toEqual([2, null]);
      log.append([rec('c')], [1], 6000);
      expect([log.minOffset, log.oldestTimestamp()]).toEqual([2, 6000]);
      const again = fresh();
      expect([again.minOffset, again.oldestTimestamp()]).toEqual([2, 6000]);
    });
  });

  it('reloads its state from storage in a fresh instance', async () => {
    await withLog(({ log, fresh }) => {
      log.append([rec('a', { t: 't' }), rec('b')], [10, 20], 1000);
      log.append([rec('c')], [30], 2000);
      const again = fresh();
      expect(again.status()).toEqual({ minOffset: 0, maxOffset: 3, lastStoreTimestamp: 2000, messages: 3, bytes: 60 });
      expect(again.read(0)).toEqual({ off: 0, ts: 1000, rec: rec('a', { t: 't' }) });
      expect(again.read(2)).toEqual({ off: 2, ts: 2000, rec: rec('c') });
      expect(again.append([rec('d')], [1], 3000).base).toBe(3);
    });
  });

  it('survives the object being restarted (state in storage only)', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName('t/0/restart'));
    await runInDurableObject(stub, (_i, state) => {
      new CommitLog(state.storage.sql, sqlMeta(state.storage.sql)).append([rec('persisted')], [9], 1234);
    });
    await runInDurableObject(stub, (_i, state) => {
      const log = new CommitLog(state.storage.sql, sqlMeta(state.storage.sql));
      expect(log.status()).toMatchObject({ maxOffset: 1, bytes: 9, lastStoreTimestamp: 1234 });
      expect(log.read(0)!.rec.b).toBe('persisted');
    });
  });
});
