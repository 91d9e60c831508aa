/** SqlCost: statements and the rows they read and wrote, as billed, counted through a wrapper of a Durable Object's SQLite. */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { SqlCost } from '../../src/storage/sql-cost';

describe('SqlCost', () => {
  it('counts statements and the rows their cursors read and wrote, in total and per statement', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName('sql-cost/0/t'));
    await runInDurableObject(stub, async (_i, state) => {
      const cost = new SqlCost(state.storage.sql);
      const { sql } = cost;
      sql.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
      for (let k = 0; k < 3; k++) sql.exec('INSERT INTO t (k, v) VALUES (?, ?)', k, `v${k}`);
      expect(sql.exec<{ v: string }>('SELECT v FROM t ORDER BY k').toArray().map((r) => r.v)).toEqual(['v0', 'v1', 'v2']);
      // read at once, in the same synchronous stretch: the cursors' counts are folded in
      const r = cost.report();
      expect(r.statements).toBe(5);
      expect(r.rowsWritten).toBeGreaterThanOrEqual(3);
      expect(r.rowsRead).toBeGreaterThanOrEqual(3);
      const insert = r.byStatement.find((s) => s.sql.startsWith('INSERT INTO t'))!;
      expect(insert).toMatchObject({ n: 3, rowsWritten: 3 });
      expect(r.byStatement.find((s) => s.sql.startsWith('SELECT v FROM t'))).toMatchObject({ n: 1, rowsRead: 3, rowsWritten: 0 });
      // and after a turn, later statements add to the same totals
      await Promise.resolve();
      sql.exec('DELETE FROM t WHERE k = 0');
      await Promise.resolve();
      const after = cost.report();
      expect(after.statements).toBe(6);
      expect(after.rowsWritten).toBeGreaterThan(r.rowsWritten);
      expect(sql.databaseSize).toBe(state.storage.sql.databaseSize);
    });
  });
});
