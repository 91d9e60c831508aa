/**
 * Schema migrations of the Broker against data written by an older schema: a Broker's storage is
 * taken back to schema 5 (segments_ts, leases_deadline, trace with AUTOINCREMENT and an index),
 * filled as that version wrote it, and then started again, so that the constructor migrates it.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Rec } from '../../src/model/message';
import type { Broker } from '../../src/objects/Broker';
import { CommitLog } from '../../src/storage/commitlog';
import { ConsumeState } from '../../src/storage/consume';
import { BROKER_MIGRATIONS, migrate } from '../../src/storage/schema';
import { Trace } from '../../src/storage/trace';
import { brokerOf, brokerSql, consumer, groupConfig, handleOf, ok, queueRoute, received, sqlMeta, uniq } from './helpers';

type Stub = DurableObjectStub<Broker>;

/** Drops every table of the object and migrates it to `version` only. */
function rebuildAt(sql: SqlStorage, version: number): void {
  const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray()
    .map((r) => r.name).filter((n) => !n.startsWith('sqlite_') && !n.startsWith('_cf') && !n.startsWith('__cf'));
  for (const t of tables) sql.exec(`DROP TABLE "${t}"`);
  migrate(sql, BROKER_MIGRATIONS.slice(0, version));
}

const names = (sql: SqlStorage, type: string) =>
  sql.exec<{ name: string }>('SELECT name FROM sqlite_master WHERE type = ?', type).toArray().map((r) => r.name);

describe('migration to schema 8 (no segments_ts, no leases_deadline, trace one row per bucket and flush)', () => {
  it('keeps every message, lease and trace event of a schema-5 broker, in order, and it works on', async () => {
    const route = queueRoute(uniq('mig'));
    const g = groupConfig('g', { retryPolicy: { type: 'EXPONENTIAL', initialMs: 0, maxMs: 0, multiplier: 1 } });
    let stub: Stub = brokerOf(route);
    const now = Date.now();
    const expiredAt = now - 1000;
    const leaseId = await runInDurableObject(stub, async (_i, state) => {
      const sql = state.storage.sql;
      rebuildAt(sql, 5);
      expect(sql.exec<{ v: number }>('SELECT v FROM schema_version').one().v).toBe(5);
      expect(names(sql, 'index')).toEqual(expect.arrayContaining(['segments_ts', 'leases_deadline', 'trace_bucket']));
      sql.exec('INSERT INTO meta (k, v) VALUES (?, ?)', 'route', JSON.stringify(route));
      // the log: 3 segments, 5 messages, store times 1000 apart
      const log = new CommitLog(sql, sqlMeta(sql));
      const rec = (b: string): Rec => ({ b, e: 0, bt: now - 5000 });
      log.append([rec('a'), rec('b')], [1, 1], now - 3000);
      log.append([rec('c')], [1], now - 2000);
      log.append([rec('d'), rec('e')], [1, 1], now - 1000);
      // group g: a and b acked, c in a lease that ran out, d and e not delivered yet
      const cs = new ConsumeState(sql);
      cs.ensureGroup('g', () => 0, { maxRetries: g.maxRetries, retryPolicy: g.retryPolicy, invisibleMs: g.invisibleMs });
      cs.setNext('g', 3);
      const id = cs.lease('g', [[2, 1]], expiredAt, 'old-consumer');
      await state.storage.setAlarm(expiredAt); // as the old version armed it (held: it runs when the test says)
      // trace rows as schema 5 wrote them: one row per request and bucket, ids from AUTOINCREMENT
      const put = (bucket: number, at: number, type: string, offs: unknown, data: unknown) =>
        sql.exec('INSERT INTO trace (bucket, at, type, offs, data) VALUES (?, ?, ?, ?, ?)', bucket, at, type, JSON.stringify(offs), data ? JSON.stringify(data) : null);
      put(0, now - 2900, 'DELIVERED', [[0, { deliveryAttempt: 1 }], [1, { deliveryAttempt: 1 }]], { group: 'g', consumerId: 'c1' });
      put(0, now - 2800, 'NACKED', [1], { group: 'g', deliveryAttempt: 1 });
      put(0, now - 2700, 'DELIVERED', [[1, { deliveryAttempt: 2 }]], { group: 'g', consumerId: 'c1' });
      put(0, now - 2600, 'ACKED', [0, 1], { group: 'g' });
      put(0, now - 1900, 'DELIVERED', [[2, { deliveryAttempt: 1 }]], { group: 'g', consumerId: 'old-consumer' });
      put(-1, now - 4000, 'SCHEDULED', [7], { deliverAt: now + 3_600_000 });
      expect(sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_sequence WHERE name = 'trace'").one().n).toBe(1);
      return id;
    });

    // the object starts again on that storage: its constructor migrates 5 → 8
    await runInDurableObject(stub, (_i, state) => { state.abort('restart on schema 5 data'); }).catch(() => null);
    stub = brokerOf(route);
    await runInDurableObject(stub, (i, state) => {
      const sql = state.storage.sql;
      expect(sql.exec<{ v: number }>('SELECT v FROM schema_version').one().v).toBe(BROKER_MIGRATIONS.length);
      expect(BROKER_MIGRATIONS.length).toBe(8);
      const idx = names(sql, 'index').filter((n) => !n.startsWith('sqlite_'));
      for (const gone of ['segments_ts', 'leases_deadline', 'trace_bucket']) expect(idx).not.toContain(gone);
      expect(sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('trace', 'segments', 'leases') AND name NOT LIKE 'sqlite_%'").toArray()).toEqual([]);
      expect(sql.exec("SELECT 1 FROM sqlite_sequence WHERE name = 'trace'").toArray()).toEqual([]);
      expect(names(sql, 'table')).not.toContain('trace_v8');
      // the lease, with its deadline: the new instance knows it is due
      expect(sql.exec<{ id: number; deadline: number }>('SELECT id, deadline FROM leases').toArray()).toEqual([{ id: leaseId, deadline: expiredAt }]);
      expect((i as unknown as { consume: ConsumeState }).consume.nextDue()).toBe(expiredAt);
      // the pending message's event is there too, under its own bucket
      expect(new Trace(sql).events(7, true)).toEqual([{ type: 'SCHEDULED', at: now - 4000, deliverAt: now + 3_600_000 }]);
    });

    // every message is there and found by time without the index
    const q = ok(await stub.query(route, { start: now - 2000, end: now }, null, 10)) as unknown as { messages: { body: string }[] };
    expect(q.messages.map((m) => m.body)).toEqual(['c', 'd', 'e']);
    // the old events, in their order, under PUBLISHED
    const trace = async (off: number) => (ok(await stub.traceOf(route, { off })) as unknown as { events: Record<string, unknown>[] }).events;
    expect(await trace(1)).toEqual([
      { type: 'PUBLISHED', at: now - 3000 },
      { type: 'DELIVERED', at: now - 2900, group: 'g', consumerId: 'c1', deliveryAttempt: 1 },
      { type: 'NACKED', at: now - 2800, group: 'g', deliveryAttempt: 1 },
      { type: 'DELIVERED', at: now - 2700, group: 'g', consumerId: 'c1', deliveryAttempt: 2 },
      { type: 'ACKED', at: now - 2600, group: 'g' },
    ]);

    // the alarm expires the old lease (found by the scan, no index); c comes back as attempt 2
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await brokerSql(stub, 'SELECT 1 FROM leases')).toEqual([]);
    const got = received(await stub.receive(route, consumer(g), { max: 10 })) as unknown as { body: string; deliveryAttempt: number; receiptHandle: string }[];
    expect(got.map((m) => [m.body, m.deliveryAttempt])).toEqual([['c', 2], ['d', 1], ['e', 1]]);
    expect(ok(await stub.ack(route, g, got.map((m) => handleOf(m.receiptHandle)))).results).toEqual(['OK', 'OK', 'OK']);
    // new events follow the old ones in the same bucket
    expect((await trace(2)).map((e) => [e.type, e.deliveryAttempt ?? null, e.consumerId ?? null])).toEqual([
      ['PUBLISHED', null, null], ['DELIVERED', 1, 'old-consumer'], ['EXPIRED', 1, null], ['DELIVERED', 2, null], ['ACKED', null, null],
    ]);
    const rows = await brokerSql<{ bucket: number; id: number }>(stub, 'SELECT bucket, id FROM trace WHERE bucket = 0 ORDER BY id');
    // old rows kept their ids; the new ones (one per flush) follow them in the bucket
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: rows.length }, (_, k) => k + 1));
    expect(rows.length).toBeGreaterThan(5);
  });

  it('a migration that fails leaves the previous version whole, to be run again', async () => {
    const stub = brokerOf(queueRoute(uniq('mig-fail')));
    await runInDurableObject(stub, (_i, state) => {
      const sql = state.storage.sql;
      rebuildAt(sql, 5);
      const bad = [...BROKER_MIGRATIONS.slice(0, 5), 'DROP INDEX segments_ts; CREATE TABLE half_done (x); INSERT INTO no_such_table VALUES (1);'];
      expect(() => migrate(sql, bad, (fn) => state.storage.transactionSync(fn))).toThrow();
      expect(sql.exec<{ v: number }>('SELECT v FROM schema_version').one().v).toBe(5);
      expect(names(sql, 'table')).not.toContain('half_done');
      expect(names(sql, 'index')).toContain('segments_ts');
      migrate(sql, BROKER_MIGRATIONS, (fn) => state.storage.transactionSync(fn));
      expect(sql.exec<{ v: number }>('SELECT v FROM schema_version').one().v).toBe(BROKER_MIGRATIONS.length);
    });
  });
});
