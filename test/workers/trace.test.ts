/** The trace store: events buffered and written one row per bucket, a message's events, and purge by bucket. */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Trace } from '../../src/storage/trace';

function withTrace<R>(fn: (t: Trace, sql: SqlStorage) => R): Promise<R> {
  const stub = env.BROKER.get(env.BROKER.idFromName('trace/0/x'));
  return runInDurableObject(stub, (_i, state) => fn(new Trace(state.storage.sql), state.storage.sql));
}

const rows = (sql: SqlStorage) =>
  sql.exec<{ bucket: number; id: number; events: string }>('SELECT bucket, id, events FROM trace ORDER BY bucket, id').toArray();

describe('trace', () => {
  it('answers the events of one message, oldest first, with per-message and shared fields', async () => {
    await withTrace((t) => {
      t.record('DELIVERED', [{ off: 5, each: { deliveryAttempt: 1 } }, { off: 6, each: { deliveryAttempt: 2 } }], { group: 'g' }, 100);
      t.record('ACKED', [{ off: 6 }], { group: 'g' }, 200);
      t.record('DELIVERED', [{ off: 2000 }], { group: 'g' }, 150); // another bucket
      expect(t.events(6)).toEqual([
        { type: 'DELIVERED', at: 100, group: 'g', deliveryAttempt: 2 },
        { type: 'ACKED', at: 200, group: 'g' },
      ]);
      expect(t.events(5)).toEqual([{ type: 'DELIVERED', at: 100, group: 'g', deliveryAttempt: 1 }]);
      expect(t.events(7)).toEqual([]);
      // pending messages are keyed apart from log offsets
      t.record('SCHEDULED', [{ off: 6 }], { deliverAt: 999 }, 50, true);
      expect(t.events(6, true)).toEqual([{ type: 'SCHEDULED', at: 50, deliverAt: 999 }]);
      expect(t.events(6).map((e) => e.type)).toEqual(['DELIVERED', 'ACKED']);
    });
  });

  it('writes nothing until a flush, then one row per bucket, and keeps the order across flushes', async () => {
    await withTrace((t, sql) => {
      t.record('DELIVERED', [{ off: 1, each: { deliveryAttempt: 1 } }, { off: 1500, each: { deliveryAttempt: 1 } }], { group: 'g' }, 10);
      t.record('ACKED', [{ off: 1 }], { group: 'g' }, 20);
      t.record('NACKED', [{ off: 1500 }], { group: 'g', deliveryAttempt: 1 }, 20);
      expect(t.buffered).toBe(4);
      expect(rows(sql)).toEqual([]);
      t.flush();
      expect(t.buffered).toBe(0);
      // 4 events over 2 buckets: 2 rows
      expect(rows(sql).map((r) => [r.bucket, r.id, JSON.parse(r.events).map((e: unknown[]) => e[0])]))
        .toEqual([[0, 1, ['DELIVERED', 'ACKED']], [1, 1, ['DELIVERED', 'NACKED']]]);
      t.flush(); // nothing buffered: nothing written
      expect(rows(sql)).toHaveLength(2);
      // a later flush appends after the bucket's last row; same-millisecond events keep their order
      t.record('DELIVERED', [{ off: 1, each: { deliveryAttempt: 2 } }], { group: 'h' }, 20);
      t.record('ACKED', [{ off: 1 }], { group: 'h' }, 20);
      expect(t.events(1)).toEqual([
        { type: 'DELIVERED', at: 10, group: 'g', deliveryAttempt: 1 },
        { type: 'ACKED', at: 20, group: 'g' },
        { type: 'DELIVERED', at: 20, group: 'h', deliveryAttempt: 2 },
        { type: 'ACKED', at: 20, group: 'h' },
      ]);
      expect(rows(sql).map((r) => [r.bucket, r.id])).toEqual([[0, 1], [0, 2], [1, 1]]);
    });
  });

  it('drops the events recorded after a mark (a transaction that rolled back)', async () => {
    await withTrace((t) => {
      t.record('DELIVERED', [{ off: 3 }], { group: 'g' }, 10);
      const mark = t.mark();
      t.record('ACKED', [{ off: 3 }, { off: 4000 }], { group: 'g' }, 20); // two buckets: two events
      expect(t.buffered).toBe(3);
      t.rollback(mark);
      expect(t.buffered).toBe(1);
      expect(t.events(3)).toEqual([{ type: 'DELIVERED', at: 10, group: 'g' }]);
      expect(t.events(4000)).toEqual([]);
      t.rollback(mark); // idempotent; a mark from before a flush drops nothing flushed
      expect(t.events(3)).toHaveLength(1);
    });
  });

  it('splits a bucket whose events would overflow a row', async () => {
    await withTrace((t, sql) => {
      // 1024 offsets × 600 events of ~1 KB: far past one 2 MB row
      const items = Array.from({ length: 1024 }, (_, i) => ({ off: i, each: { deliveryAttempt: 1 } }));
      for (let k = 0; k < 60; k++) t.record('DELIVERED', items, { group: `group-${k}` }, 1000 + k);
      t.flush();
      const r = rows(sql);
      expect(r.length).toBeGreaterThan(1);
      for (const x of r) expect(x.events.length).toBeLessThanOrEqual(500_000 + 50_000);
      const ev = t.events(777);
      expect(ev).toHaveLength(60);
      expect(ev.map((e) => e.group)).toEqual(Array.from({ length: 60 }, (_, k) => `group-${k}`));
    });
  });

  it('purges the buckets below the log start, bounded per call, and keeps the rest', async () => {
    await withTrace((t, sql) => {
      for (let i = 0; i < 10; i++) { t.record('ACKED', [{ off: i * 1024 }, { off: i * 1024 + 5 }], null, 1000 + i); t.flush(); }
      t.record('SCHEDULED', [{ off: 0 }], null, 1, true);
      t.flush();
      t.purgeBelow(1023); // bucket 0 still holds offset 1023
      expect(rows(sql)).toHaveLength(11);
      t.purgeBelow(3 * 1024 + 1); // buckets 0..2 go: 3 starts at 3072 and is partly kept
      expect(rows(sql).map((r) => r.bucket)).toEqual([-1, 3, 4, 5, 6, 7, 8, 9]);
      expect(t.events(3 * 1024 + 5)).toHaveLength(1);
      t.purgeBelow(100 * 1024, 2); // bounded: at most 2 rows per call
      expect(rows(sql).map((r) => r.bucket)).toEqual([-1, 5, 6, 7, 8, 9]);
      t.purgeBelow(100 * 1024);
      expect(rows(sql).map((r) => r.bucket)).toEqual([-1]); // pending events are not the log's
    });
  });

  it('purges the events of pending messages once no row of their bucket is kept', async () => {
    await withTrace((t, sql) => {
      t.record('SCHEDULED', [{ off: 1 }, { off: 2 }, { off: 2049 }], null, 1, true);
      t.flush();
      expect(rows(sql).map((r) => r.bucket)).toEqual([-3, -1]);
      const kept = new Set([2]);
      const alive = (lo: number, hi: number) => [...kept].some((s) => s >= lo && s < hi);
      t.purgePending([1, 2049], alive); // 2 is kept: bucket 0 stays; bucket 2 goes
      expect(rows(sql).map((r) => r.bucket)).toEqual([-1]);
      kept.clear();
      t.purgePending([2], alive);
      expect(rows(sql)).toEqual([]);
    });
  });
});
