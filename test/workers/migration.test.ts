/**
 * Schema migrations of the Broker against data written by an older schema: a Broker's storage is
 * taken back to an older version and migrated again.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { BROKER_MIGRATIONS, migrate } from '../../src/storage/schema';
import { brokerOf, queueRoute, uniq } from './helpers';

/** Drops every table of the object and migrates it to `version` only. */
function rebuildAt(sql: SqlStorage, version: number): void {
  const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray()
    .map((r) => r.name).filter((n) => !n.startsWith('sqlite_') && !n.startsWith('_cf') && !n.startsWith('__cf'));
  for (const t of tables) sql.exec(`DROP TABLE "${t}"`);
  migrate(sql, BROKER_MIGRATIONS.slice(0, version));
}

const names = (sql: SqlStorage, type: string) =>
  sql.exec<{ name: string }>('SELECT name FROM sqlite_master WHERE type = ?', type).toArray().map((r) => r.name);

describe('migrations', () => {
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
