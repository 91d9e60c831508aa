/** The trace store: events per bucket, a message's events, and purge by time without an `at` index. */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Trace } from '../../src/storage/trace';

function withTrace<R>(fn: (t: Trace, sql: SqlStorage) => R): Promise<R> {
  const stub = env.BROKER.get(env.BROKER.idFromName('trace/0/x'));
  return runInDurableObject(stub, (_i, state) => fn(new Trace(state.storage.sql), state.storage.sql));
}

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

  it('purges events older than a time by binary search over ids, and keeps the rest', async () => {
    await withTrace((t, sql) => {
      for (let i = 0; i < 100; i++) t.record('ACKED', [{ off: i }], null, 1000 + i * 10);
      t.purge(1000 + 37 * 10); // events at 1000..1360 go; 1370.. stay
      const left = sql.exec<{ at: number }>('SELECT at FROM trace ORDER BY id').toArray().map((r) => r.at);
      expect(left.length).toBe(63);
      expect(left[0]).toBe(1370);
      t.purge(0); // nothing older than 0
      expect(sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM trace').one().n).toBe(63);
      t.purge(1_000_000, 10); // bounded: at most 10 per call
      expect(sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM trace').one().n).toBe(53);
    });
  });
});
