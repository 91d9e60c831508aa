/** The consume state of groups on one queue, against the real SQLite of a Durable Object. */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { CUSTOMIZED_BACKOFF_MS } from '../../src/model/limits';
import { ConsumeState, LEASE_CACHE_ITEMS, type ConsumeConfig } from '../../src/storage/consume';

type Ctx = { sql: SqlStorage; cs: ConsumeState };

function withState<R>(fn: (c: Ctx) => R | Promise<R>, name = 't/0/x'): Promise<R> {
  const stub = env.BROKER.get(env.BROKER.idFromName(name));
  return runInDurableObject(stub, (_i, state) => fn({ sql: state.storage.sql, cs: new ConsumeState(state.storage.sql) }));
}

const CUSTOM: ConsumeConfig = { maxRetries: 16, retryPolicy: { type: 'CUSTOMIZED' }, invisibleMs: 30_000 };
const EXPO: ConsumeConfig = {
  maxRetries: 16, retryPolicy: { type: 'EXPONENTIAL', initialMs: 1000, maxMs: 10_000, multiplier: 2 }, invisibleMs: 30_000,
};
const NOW = 1_000_000;
const mine = (g: string) => (grp: string) => grp === g;
const retries = (sql: SqlStorage) =>
  sql.exec<{ grp: string; off: number; attempt: number; due: number; dlq: number }>(
    'SELECT grp, off, attempt, due, dlq FROM retries ORDER BY grp, off').toArray();

describe('groups', () => {
  it('creates a group from its start offset once, then keeps its own next', async () => {
    await withState(({ cs }) => {
      let calls = 0;
      expect(cs.hasGroup('g')).toBe(false);
      expect(cs.state('g')).toBeNull();
      expect(cs.ensureGroup('g', () => { calls++; return 7; }, CUSTOM)).toBe(7);
      expect(cs.ensureGroup('g', () => { calls++; return 99; }, CUSTOM)).toBe(7);
      expect(calls).toBe(1);
      expect(cs.hasGroup('g')).toBe(true);
      expect(cs.configOf('g')).toEqual(CUSTOM);
      cs.ensureGroup('g', () => 0, EXPO); // a changed config is stored
      expect(cs.configOf('g')).toEqual(EXPO);
      cs.setNext('g', 12);
      expect(cs.state('g')).toEqual({ consumerOffset: 12, inflight: 0, retrying: 0, next: 12 });
      expect(cs.groups().sort()).toEqual(['g']);
      expect(cs.configOf('nope')).toBeNull();
    });
  });

  it('a known group with an unchanged config reads no row; a changed config, a drop and a resync still reach storage', async () => {
    await withState(({ sql, cs }) => {
      // statements run through a counting view of the same storage
      let statements = 0;
      const counted = new ConsumeState(new Proxy(sql, {
        get: (t, k) => (k === 'exec' ? (...a: Parameters<SqlStorage['exec']>) => { statements++; return t.exec(...a); } : Reflect.get(t, k)),
      }));
      const runs = (fn: () => unknown) => { const before = statements; fn(); return statements - before; };
      expect(counted.ensureGroup('g', () => 3, CUSTOM)).toBe(3);
      expect(runs(() => expect(counted.ensureGroup('g', () => 99, CUSTOM)).toBe(3))).toBe(0);
      counted.setNext('g', 8);
      expect(runs(() => expect(counted.ensureGroup('g', () => 99, CUSTOM)).toBe(8))).toBe(0);
      // a changed config is read and written
      expect(runs(() => counted.ensureGroup('g', () => 99, EXPO))).toBe(2);
      expect(cs.configOf('g')).toEqual(EXPO); // another reader of the same storage sees it
      // what another writer did is seen after a resync (as after a rolled-back transaction)
      sql.exec('UPDATE cgroups SET next = 20 WHERE grp = ?', 'g');
      counted.resync();
      expect(counted.ensureGroup('g', () => 99, EXPO)).toBe(20);
      // a dropped group is created again from its start
      counted.drop('g');
      expect(counted.ensureGroup('g', () => 5, EXPO)).toBe(5);
      expect(cs.state('g')).toMatchObject({ next: 5 });
    }, 't/0/ensured');
  });
});

describe('leases and take (ack)', () => {
  it('takes each delivery once; the lease row shrinks and goes', async () => {
    await withState(({ sql, cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      const id = cs.lease('g', [[0, 1], [1, 1], [2, 1]], NOW + 1000, 'c1');
      cs.setNext('g', 3); // as receive does
      expect(cs.state('g')).toMatchObject({ inflight: 3, consumerOffset: 0 });
      expect(cs.take(mine('g'), [{ leaseId: id, off: 0, attempt: 1 }], NOW)).toEqual([{ grp: 'g', off: 0, attempt: 1 }]);
      const row = sql.exec<{ items: string; min_off: number; consumer: string }>('SELECT items, min_off, consumer FROM leases WHERE id = ?', id).one();
      expect(JSON.parse(row.items)).toEqual([[1, 1], [2, 1]]);
      expect(row.min_off).toBe(1);
      expect(row.consumer).toBe('c1');
      // a second ack of the same handle changes nothing
      expect(cs.take(mine('g'), [{ leaseId: id, off: 0, attempt: 1 }], NOW)).toEqual(['EXPIRED']);
      expect(cs.state('g')).toMatchObject({ inflight: 2, consumerOffset: 1 });
      // several handles of one lease at once; one of them wrong
      expect(cs.take(mine('g'), [
        { leaseId: id, off: 2, attempt: 1 }, { leaseId: id, off: 1, attempt: 2 }, { leaseId: id, off: 1, attempt: 1 },
      ], NOW)).toEqual([{ grp: 'g', off: 2, attempt: 1 }, 'EXPIRED', { grp: 'g', off: 1, attempt: 1 }]);
      expect(sql.exec('SELECT 1 FROM leases').toArray()).toHaveLength(0);
      expect(cs.state('g')).toEqual({ consumerOffset: 3, inflight: 0, retrying: 0, next: 3 });
    });
  });

  it('answers EXPIRED for a lease that ran out, and leaves it for the expiry sweep', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      const id = cs.lease('g', [[0, 1]], NOW + 1000, null);
      expect(cs.take(mine('g'), [{ leaseId: id, off: 0, attempt: 1 }], NOW + 1000)).toEqual(['EXPIRED']);
      expect(cs.take(mine('g'), [{ leaseId: id + 12345, off: 0, attempt: 1 }], NOW)).toEqual(['EXPIRED']);
      expect(cs.state('g')!.inflight).toBe(1);
      expect(cs.expiredLeases(NOW + 999)).toEqual([]);
      expect(cs.expiredLeases(NOW + 1000)).toEqual([{ grp: 'g', id, deadline: NOW + 1000, consumer: null, items: [[0, 1]] }]);
      // still takeable just before the deadline
      expect(cs.take(mine('g'), [{ leaseId: id, off: 0, attempt: 1 }], NOW + 999)).toEqual([{ grp: 'g', off: 0, attempt: 1 }]);
    });
  });

  it('answers EXPIRED for a delivery superseded by a later one', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      const first = cs.lease('g', [[0, 1]], NOW + 1000, null);
      // the lease runs out: the sweep fails it, the message comes back as attempt 2
      for (const l of cs.expiredLeases(NOW + 1000)) {
        cs.deleteLease(l.id);
        for (const [off, attempt] of l.items) expect(cs.fail(l.grp, { off, attempt }, CUSTOM, NOW + 1000)).toBe('RETRY');
      }
      expect(cs.dueRetries('g', NOW + 1000 + CUSTOMIZED_BACKOFF_MS[0], 10)).toEqual([{ off: 0, attempt: 2 }]);
      cs.removeRetries('g', [0]);
      const second = cs.lease('g', [[0, 2]], NOW + 50_000, null);
      expect(second).toBeGreaterThan(first);
      expect(cs.take(mine('g'), [{ leaseId: first, off: 0, attempt: 1 }], NOW + 20_000)).toEqual(['EXPIRED']);
      expect(cs.take(mine('g'), [{ leaseId: second, off: 0, attempt: 1 }], NOW + 20_000)).toEqual(['EXPIRED']);
      expect(cs.state('g')!.inflight).toBe(1);
      expect(cs.take(mine('g'), [{ leaseId: second, off: 0, attempt: 2 }], NOW + 20_000)).toEqual([{ grp: 'g', off: 0, attempt: 2 }]);
    });
  });

  it("answers INVALID for another group's lease and leaves it alone", async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('a', () => 0, CUSTOM);
      cs.ensureGroup('b', () => 0, CUSTOM);
      const id = cs.lease('a', [[0, 1]], NOW + 1000, null);
      expect(cs.take(mine('b'), [{ leaseId: id, off: 0, attempt: 1 }], NOW)).toEqual(['INVALID']);
      // even once it ran out: it is still not b's
      expect(cs.take(mine('b'), [{ leaseId: id, off: 0, attempt: 1 }], NOW + 5000)).toEqual(['INVALID']);
      expect(cs.state('a')!.inflight).toBe(1);
      expect(cs.take(mine('a'), [{ leaseId: id, off: 0, attempt: 1 }], NOW)).toEqual([{ grp: 'a', off: 0, attempt: 1 }]);
    });
  });

  it('an ack reads no lease row that this instance wrote or read; a resync, a delete and the cap send it back to storage', async () => {
    await withState(({ sql }) => {
      let statements: string[] = [];
      const counted = new ConsumeState(new Proxy(sql, {
        get: (t, k) => (k === 'exec' ? (q: string, ...a: unknown[]) => { statements.push(q); return t.exec(q, ...a); } : Reflect.get(t, k)),
      }));
      const reads = (fn: () => unknown) => { statements = []; fn(); return statements.filter((q) => q.startsWith('SELECT') && q.includes('FROM leases WHERE id')).length; };
      const ok = (off: number, attempt = 1) => ({ grp: 'g', off, attempt });
      counted.ensureGroup('g', () => 0, CUSTOM);
      const id = counted.lease('g', [[0, 1], [1, 1], [2, 1]], NOW + 1000, 'c1');
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: id, off: 0, attempt: 1 }], NOW)).toEqual([ok(0)]))).toBe(0);
      expect(JSON.parse(sql.exec<{ items: string }>('SELECT items FROM leases WHERE id = ?', id).one().items)).toEqual([[1, 1], [2, 1]]);
      // a lease written before this instance (by an earlier one) is read once, then known
      const other = id + 1e6;
      sql.exec('INSERT INTO leases (id, grp, deadline, min_off, consumer, items) VALUES (?, ?, ?, ?, ?, ?)', other, 'g', NOW + 1000, 3, null, '[[3,1]]');
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: other, off: 3, attempt: 2 }], NOW)).toEqual(['EXPIRED']))).toBe(1);
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: other, off: 3, attempt: 1 }], NOW)).toEqual([ok(3)]))).toBe(0);
      // after a resync (as after a rolled-back transaction) storage is read again, with what changed there
      sql.exec('UPDATE leases SET items = ? WHERE id = ?', '[[2,1]]', id);
      counted.resync();
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: id, off: 1, attempt: 1 }], NOW)).toEqual(['EXPIRED']))).toBe(1);
      // the last delivery taken deletes the row, and the lease is gone from memory too
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: id, off: 2, attempt: 1 }], NOW)).toEqual([ok(2)]))).toBe(0);
      expect(sql.exec('SELECT 1 FROM leases').toArray()).toHaveLength(0);
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: id, off: 2, attempt: 1 }], NOW)).toEqual(['EXPIRED']))).toBe(1);
      // the cap: the oldest leases are forgotten first, and read from storage when acked
      const per = 1000;
      const ids = Array.from({ length: LEASE_CACHE_ITEMS / per + 1 }, (_, i) =>
        counted.lease('g', Array.from({ length: per }, (_, k): [number, number] => [10 + i * per + k, 1]), NOW + 1000, null));
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: ids[0], off: 10, attempt: 1 }], NOW)).toEqual([ok(10)]))).toBe(1);
      expect(reads(() => expect(counted.take(mine('g'), [{ leaseId: ids.at(-1)!, off: 10 + (ids.length - 1) * per, attempt: 1 }], NOW))
        .toEqual([ok(10 + (ids.length - 1) * per)]))).toBe(0);
    }, 't/0/lease-cache');
  });

  it('hands out lease ids that only grow, also across instances', async () => {
    await withState(({ sql, cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      const a = cs.lease('g', [[0, 1]], NOW, null);
      const b = cs.lease('g', [[1, 1]], NOW, null);
      expect(b).toBeGreaterThan(a);
      // a lease far in the "future" of the id space: a new instance starts above it
      sql.exec('INSERT INTO leases (id, grp, deadline, min_off, consumer, items) VALUES (?, ?, ?, ?, ?, ?)',
        b + 1e12, 'g', NOW, 2, null, '[[2,1]]');
      expect(new ConsumeState(sql).lease('g', [[3, 1]], NOW, null)).toBeGreaterThan(b + 1e12);
      expect(Number.isSafeInteger(b)).toBe(true);
    });
  });
});

describe('push leases, held back', () => {
  const rows = (sql: SqlStorage) => ({
    leases: sql.exec<{ items: string }>('SELECT items FROM leases ORDER BY id').toArray().map((r) => r.items),
    next: sql.exec<{ next: number }>('SELECT next FROM cgroups WHERE grp = ?', 'g').one().next,
  });

  it('writes only the leases out longer than the hold, and the offset up to the first one still held', async () => {
    await withState(({ sql, cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      const early = cs.lease('g', [[0, 1], [1, 1]], NOW + 30_000, 'ws:c', NOW);
      cs.setNext('g', 2, true);
      const late = cs.lease('g', [[2, 1], [3, 1]], NOW + 30_000, 'ws:c', NOW + 500);
      cs.setNext('g', 4, true);
      expect(rows(sql)).toEqual({ leases: [], next: 0 });
      // what the group's status reads counts the held ones in, and writes nothing
      expect(cs.state('g')).toEqual({ consumerOffset: 0, inflight: 4, retrying: 0, next: 4 });
      expect(rows(sql)).toEqual({ leases: [], next: 0 });

      cs.writeBehind(NOW + 100); // the early lease has been out long enough, the late one not
      expect(rows(sql)).toEqual({ leases: ['[[0,1],[1,1]]'], next: 2 });
      expect(cs.behind).toBe(true);
      expect(cs.heldSince()).toBe(NOW + 500);
      // the late one acked while held: never written, and the offset moves past it
      expect(cs.take(mine('g'), [{ leaseId: late, off: 2, attempt: 1 }, { leaseId: late, off: 3, attempt: 1 }], NOW)).toEqual([
        { grp: 'g', off: 2, attempt: 1 }, { grp: 'g', off: 3, attempt: 1 }]);
      cs.writeBehind(NOW + 100);
      expect(rows(sql)).toEqual({ leases: ['[[0,1],[1,1]]'], next: 4 });
      expect(cs.behind).toBe(false);
      expect(cs.heldSince()).toBeNull();
      expect(cs.take(mine('g'), [{ leaseId: early, off: 0, attempt: 1 }], NOW)).toEqual([{ grp: 'g', off: 0, attempt: 1 }]);
      expect(cs.state('g')).toEqual({ consumerOffset: 1, inflight: 1, retrying: 0, next: 4 });
    }, 't/0/held');
  });

  it('writes an unchanged offset once; a crash (resync) forgets the held ones, which are below the offset written', async () => {
    await withState(({ sql, cs }) => {
      let updates = 0;
      const counted = new ConsumeState(new Proxy(sql, {
        get: (t, k) => (k === 'exec' ? (q: string, ...a: unknown[]) => { if (q.startsWith('UPDATE cgroups')) updates++; return t.exec(q, ...a); } : Reflect.get(t, k)),
      }));
      counted.ensureGroup('g', () => 5, CUSTOM);
      counted.lease('g', [[5, 1]], NOW + 30_000, 'ws:c', NOW);
      counted.setNext('g', 6, true);
      counted.writeBehind(NOW - 1); // held
      counted.writeBehind(NOW - 1);
      expect(updates).toBe(0); // 5 is what the row says already
      counted.lease('g', [[6, 1]], NOW + 30_000, 'ws:c', NOW + 1);
      counted.setNext('g', 7, true);
      counted.resync();
      expect(counted.behind).toBe(false);
      expect(rows(sql)).toEqual({ leases: [], next: 5 });
      expect(counted.nextOf('g')).toBe(5); // both delivered again, as first deliveries
      // anything else that writes leases or offsets writes every held one first
      counted.lease('g', [[5, 1]], NOW + 30_000, 'ws:c', NOW + 2);
      counted.setNext('g', 6, true);
      counted.lease('g', [[6, 1]], NOW + 30_000, 'puller', undefined);
      expect(rows(sql)).toEqual({ leases: ['[[5,1]]', '[[6,1]]'], next: 6 });
    }, 't/0/held-crash');
  });
});

describe('whereIs (message status)', () => {
  it('says where a delivery stands: in a lease (written or held back), retrying, waiting for the DLQ, or none', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      cs.ensureGroup('h', () => 0, CUSTOM);
      const written = cs.lease('g', [[0, 1], [5, 1]], NOW + 1000, 'c1');
      cs.lease('g', [[7, 1]], NOW + 1000, 'ws:c2', NOW); // a push delivery not written yet
      cs.setNext('g', 8);
      expect(cs.whereIs('g', 0)).toBe('INFLIGHT');
      expect(cs.whereIs('g', 5)).toBe('INFLIGHT');
      expect(cs.whereIs('g', 7)).toBe('INFLIGHT');
      expect(cs.whereIs('h', 7)).toBeNull(); // another group's lease
      expect(cs.whereIs('g', 3)).toBeNull();
      cs.take(mine('g'), [{ leaseId: written, off: 5, attempt: 1 }], NOW);
      expect(cs.whereIs('g', 5)).toBeNull();
      const cfg: ConsumeConfig = { ...CUSTOM, maxRetries: 1 };
      cs.take(mine('g'), [{ leaseId: written, off: 0, attempt: 1 }], NOW); // as a nack does, then fails it
      expect(cs.whereIs('g', 0)).toBeNull();
      expect(cs.fail('g', { off: 0, attempt: 1 }, cfg, NOW)).toBe('RETRY');
      expect(cs.whereIs('g', 0)).toBe('RETRYING');
      expect(cs.fail('g', { off: 0, attempt: 2 }, cfg, NOW)).toBe('DLQ');
      expect(cs.whereIs('g', 0)).toBe('DLQ');
      cs.deadLettered('g', 0);
      expect(cs.whereIs('g', 0)).toBeNull();
    });
  });
});

describe('fail: retry and dead letter', () => {
  it('waits the CUSTOMIZED backoff before each retry (10s 30s 1m ... 2h, then 2h)', async () => {
    await withState(({ sql, cs }) => {
      const cfg: ConsumeConfig = { ...CUSTOM, maxRetries: 32 };
      cs.ensureGroup('g', () => 0, cfg);
      const want = [10e3, 30e3, 60e3, 120e3, 180e3, 240e3, 300e3, 360e3, 420e3, 480e3, 540e3, 600e3, 1200e3, 1800e3, 3600e3, 7200e3, 7200e3, 7200e3];
      want.forEach((ms, i) => {
        expect(cs.fail('g', { off: i, attempt: i + 1 }, cfg, NOW)).toBe('RETRY');
      });
      expect(retries(sql)).toEqual(want.map((ms, i) => ({ grp: 'g', off: i, attempt: i + 2, due: NOW + ms, dlq: 0 })));
    });
  });

  it('waits the EXPONENTIAL backoff, capped at maxMs', async () => {
    await withState(({ sql, cs }) => {
      cs.ensureGroup('g', () => 0, EXPO);
      for (let a = 1; a <= 6; a++) cs.fail('g', { off: a, attempt: a }, EXPO, NOW);
      expect(retries(sql).map((r) => r.due - NOW)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
      const fractional: ConsumeConfig = { ...EXPO, retryPolicy: { type: 'EXPONENTIAL', initialMs: 100, maxMs: 100_000, multiplier: 1.5 } };
      cs.fail('h', { off: 0, attempt: 3 }, fractional, NOW);
      expect(retries(sql).find((r) => r.grp === 'h')!.due).toBe(NOW + 225);
    });
  });

  it('uses delayMs instead of the backoff when given', async () => {
    await withState(({ sql, cs }) => {
      cs.fail('g', { off: 4, attempt: 1 }, CUSTOM, NOW, 0);
      cs.fail('g', { off: 5, attempt: 2 }, CUSTOM, NOW, 777);
      expect(retries(sql)).toEqual([
        { grp: 'g', off: 4, attempt: 2, due: NOW, dlq: 0 },
        { grp: 'g', off: 5, attempt: 3, due: NOW + 777, dlq: 0 },
      ]);
    });
  });

  it('dead-letters after 1 + maxRetries deliveries', async () => {
    await withState(({ sql, cs }) => {
      const cfg: ConsumeConfig = { ...EXPO, maxRetries: 2 };
      cs.ensureGroup('g', () => 0, cfg);
      expect(cs.fail('g', { off: 0, attempt: 1 }, cfg, NOW)).toBe('RETRY');
      expect(cs.fail('g', { off: 0, attempt: 2 }, cfg, NOW)).toBe('RETRY');
      expect(cs.fail('g', { off: 0, attempt: 3 }, cfg, NOW, 5)).toBe('DLQ'); // delayMs does not save it
      expect(retries(sql)).toEqual([{ grp: 'g', off: 0, attempt: 3, due: NOW, dlq: 1 }]);
      // a dead letter is not retried, but holds the consumer offset until moved
      expect(cs.dueRetries('g', NOW + 1e9, 10)).toEqual([]);
      expect(cs.hasDueRetry('g', NOW + 1e9)).toBe(false);
      expect(cs.nextRetryDue('g')).toBeNull();
      cs.setNext('g', 1);
      expect(cs.state('g')).toEqual({ consumerOffset: 0, inflight: 0, retrying: 1, next: 1 });
      expect(cs.pendingDeadLetters(10)).toEqual([{ grp: 'g', off: 0, attempt: 3, due: NOW }]);
      expect(cs.nextDue()).toBe(NOW);
      cs.deadLettered('g', 0);
      expect(cs.pendingDeadLetters(10)).toEqual([]);
      expect(cs.state('g')).toEqual({ consumerOffset: 1, inflight: 0, retrying: 0, next: 1 });
    });
  });

  it('dead-letters the first failure when maxRetries is 0', async () => {
    await withState(({ cs }) => {
      const cfg: ConsumeConfig = { ...CUSTOM, maxRetries: 0 };
      expect(cs.fail('g', { off: 9, attempt: 1 }, cfg, NOW)).toBe('DLQ');
      expect(cs.pendingDeadLetters(10)).toEqual([{ grp: 'g', off: 9, attempt: 1, due: NOW }]);
    });
  });

  it('hands out due retries oldest first, within the limit', async () => {
    await withState(({ cs }) => {
      cs.fail('g', { off: 1, attempt: 1 }, CUSTOM, NOW, 300);
      cs.fail('g', { off: 2, attempt: 1 }, CUSTOM, NOW, 100);
      cs.fail('g', { off: 3, attempt: 4 }, CUSTOM, NOW, 200);
      cs.fail('other', { off: 1, attempt: 1 }, CUSTOM, NOW, 0);
      expect(cs.hasDueRetry('g', NOW + 99)).toBe(false);
      expect(cs.hasDueRetry('g', NOW + 100)).toBe(true);
      expect(cs.nextRetryDue('g')).toBe(NOW + 100);
      expect(cs.dueRetries('g', NOW + 250, 10)).toEqual([{ off: 2, attempt: 2 }, { off: 3, attempt: 5 }]);
      expect(cs.dueRetries('g', NOW + 1000, 2)).toEqual([{ off: 2, attempt: 2 }, { off: 3, attempt: 5 }]);
      cs.removeRetries('g', [2, 3]);
      expect(cs.dueRetries('g', NOW + 1000, 10)).toEqual([{ off: 1, attempt: 2 }]);
      expect(cs.dueRetries('other', NOW, 10)).toEqual([{ off: 1, attempt: 2 }]);
    });
  });
});

describe('consumer offset and housekeeping', () => {
  it('is min(next, leased, retrying)', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      cs.setNext('g', 10);
      expect(cs.state('g')!.consumerOffset).toBe(10);
      const l = cs.lease('g', [[6, 1], [8, 1]], NOW + 1000, null);
      cs.fail('g', { off: 4, attempt: 1 }, CUSTOM, NOW);
      expect(cs.state('g')).toEqual({ consumerOffset: 4, inflight: 2, retrying: 1, next: 10 });
      cs.removeRetries('g', [4]);
      expect(cs.state('g')).toEqual({ consumerOffset: 6, inflight: 2, retrying: 0, next: 10 });
      cs.take(mine('g'), [{ leaseId: l, off: 6, attempt: 1 }], NOW);
      expect(cs.state('g')!.consumerOffset).toBe(8);
      cs.take(mine('g'), [{ leaseId: l, off: 8, attempt: 1 }], NOW);
      expect(cs.state('g')).toEqual({ consumerOffset: 10, inflight: 0, retrying: 0, next: 10 });
    });
  });

  it('keeps groups apart', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('a', () => 0, CUSTOM);
      cs.ensureGroup('b', () => 5, CUSTOM);
      cs.lease('a', [[0, 1]], NOW + 1000, null);
      cs.fail('b', { off: 5, attempt: 1 }, CUSTOM, NOW);
      expect(cs.state('a')).toEqual({ consumerOffset: 0, inflight: 1, retrying: 0, next: 0 });
      expect(cs.state('b')).toEqual({ consumerOffset: 5, inflight: 0, retrying: 1, next: 5 });
    });
  });

  it('reset moves the group and drops its in-flight and retrying messages only', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      cs.ensureGroup('h', () => 0, CUSTOM);
      const l = cs.lease('g', [[1, 1]], NOW + 1000, null);
      cs.fail('g', { off: 0, attempt: 1 }, CUSTOM, NOW);
      cs.lease('h', [[1, 1]], NOW + 1000, null);
      cs.reset('g', 42);
      expect(cs.state('g')).toEqual({ consumerOffset: 42, inflight: 0, retrying: 0, next: 42 });
      expect(cs.take(mine('g'), [{ leaseId: l, off: 1, attempt: 1 }], NOW)).toEqual(['EXPIRED']);
      expect(cs.state('h')!.inflight).toBe(1);
      cs.reset('g', 3); // backwards too
      expect(cs.state('g')!.consumerOffset).toBe(3);
    });
  });

  it('drop forgets the group entirely', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('g', () => 0, CUSTOM);
      cs.lease('g', [[1, 1]], NOW + 1000, null);
      cs.fail('g', { off: 0, attempt: 1 }, CUSTOM, NOW);
      cs.drop('g');
      expect(cs.hasGroup('g')).toBe(false);
      expect(cs.state('g')).toBeNull();
      expect(cs.expiredLeases(NOW + 1e9)).toEqual([]);
      expect(cs.nextDue()).toBeNull();
      expect(cs.ensureGroup('g', () => 17, CUSTOM)).toBe(17); // recreated from scratch
    });
  });

  it('dropBelow forgets offsets that retention deleted', async () => {
    await withState(({ cs }) => {
      cs.ensureGroup('a', () => 2, CUSTOM);
      cs.ensureGroup('b', () => 9, CUSTOM);
      cs.fail('b', { off: 3, attempt: 1 }, CUSTOM, NOW);
      cs.fail('b', { off: 7, attempt: 1 }, CUSTOM, NOW);
      cs.dropBelow(5);
      expect(cs.state('a')).toEqual({ consumerOffset: 5, inflight: 0, retrying: 0, next: 5 });
      expect(cs.state('b')).toEqual({ consumerOffset: 7, inflight: 0, retrying: 1, next: 9 });
    });
  });

  it('knows the earliest lease deadline without an index: lowered by leases, exact after the scan and at start', async () => {
    await withState(({ sql, cs }) => {
      expect(sql.exec("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leases'").toArray()).toEqual([]);
      cs.ensureGroup('g', () => 0, CUSTOM);
      const a = cs.lease('g', [[0, 1]], NOW + 5000, null);
      const b = cs.lease('g', [[1, 1]], NOW + 3000, null);
      expect(cs.nextDue()).toBe(NOW + 3000);
      // b is acked: its deadline may still wake the alarm (early, never late)
      expect(cs.take(mine('g'), [{ leaseId: b, off: 1, attempt: 1 }], NOW)).toHaveLength(1);
      expect(cs.nextDue()).toBe(NOW + 3000);
      expect(cs.expiredLeases(NOW + 3000)).toEqual([]); // the alarm's scan finds nothing due ...
      expect(cs.nextDue()).toBe(NOW + 5000); // ... and makes it exact
      expect(new ConsumeState(sql).nextDue()).toBe(NOW + 5000); // a new instance reads it from storage
      // several due: earliest first, bounded; the ones left keep the alarm due now
      const c = cs.lease('g', [[2, 1]], NOW + 1000, null);
      const d = cs.lease('g', [[3, 1]], NOW + 2000, null);
      expect(cs.expiredLeases(NOW + 6000, 2).map((l) => l.id)).toEqual([c, d]);
      expect(cs.nextDue()).toBe(NOW + 5000);
      cs.deleteLease(c); cs.deleteLease(d);
      expect(cs.expiredLeases(NOW + 6000, 2)).toEqual([{ grp: 'g', id: a, deadline: NOW + 5000, consumer: null, items: [[0, 1]] }]);
      cs.deleteLease(a);
      expect(cs.nextDue()).toBeNull();
    });
  });

  it('nextDue is the earliest lease deadline, retry or pending dead letter', async () => {
    await withState(({ cs }) => {
      expect(cs.nextDue()).toBeNull();
      cs.lease('g', [[0, 1]], NOW + 5000, null);
      expect(cs.nextDue()).toBe(NOW + 5000);
      cs.fail('g', { off: 1, attempt: 1 }, CUSTOM, NOW, 3000);
      expect(cs.nextDue()).toBe(NOW + 3000);
      cs.fail('g', { off: 2, attempt: 1 }, { ...CUSTOM, maxRetries: 0 }, NOW + 1000);
      expect(cs.nextDue()).toBe(NOW + 1000);
    });
  });
});
