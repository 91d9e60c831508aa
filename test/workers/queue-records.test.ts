/**
 * The Broker's small records, against the real SQLite of a Durable Object: its settings (Meta),
 * push connections' filters, DLQ resends, and whether a FIFO message is still waiting.
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/storage/fifo';
import { Meta } from '../../src/storage/meta';
import { PushFilters } from '../../src/storage/push-filters';
import { Resent } from '../../src/storage/resent';

function withSql<R>(fn: (sql: SqlStorage) => R | Promise<R>): Promise<R> {
  const stub = env.BROKER.get(env.BROKER.idFromName(`records/${Math.random()}`));
  return runInDurableObject(stub, (_i, state) => fn(state.storage.sql));
}

describe('queue records', () => {
  it('Meta keeps one value per name, replaced by a later set', async () => {
    await withSql((sql) => {
      const m = new Meta(sql);
      expect(m.get('route')).toBeUndefined();
      m.set('route', '{"a":1}');
      m.set('route', '{"a":2}');
      m.set('dropped', '1');
      expect(m.get('route')).toBe('{"a":2}');
      expect(new Meta(sql).get('dropped')).toBe('1'); // stored, not only remembered
    });
  });

  it('PushFilters keeps a filter per connection until it is dropped', async () => {
    await withSql((sql) => {
      const f = new PushFilters(sql);
      expect(f.get('c1')).toBeNull();
      f.set('c1', 'TAG:a||b');
      f.set('c2', 'SQL92:x > 1');
      f.set('c1', 'TAG:c');
      expect(f.get('c1')).toBe('TAG:c');
      f.drop('c1');
      expect(f.get('c1')).toBeNull();
      expect(f.get('c2')).toBe('SQL92:x > 1');
    });
  });

  it('Resent answers for the offsets asked only, whatever else was resent', async () => {
    await withSql((sql) => {
      const r = new Resent(sql);
      expect(r.of([])).toEqual(new Map());
      r.mark(3, 100, 'm3');
      r.mark(5, 101, 'm5');
      r.mark(9, 102, 'm9');
      r.mark(5, 103, 'm5b'); // resent again: the latest
      expect(r.of([2, 3, 4, 5, 6])).toEqual(new Map([[3, { at: 100, messageId: 'm3' }], [5, { at: 103, messageId: 'm5b' }]]));
      expect(r.of([9, 3])).toEqual(new Map([[9, { at: 102, messageId: 'm9' }], [3, { at: 100, messageId: 'm3' }]]));
      expect(r.of([4, 8])).toEqual(new Map()); // 5 lies between them, and is not asked
      expect(r.has(9)).toBe(true);
      expect(r.has(4)).toBe(false);
    });
  });

  it('Fifo.pending: a message is pending while held or out in its message group, for that group only', async () => {
    await withSql((sql) => {
      const f = new Fifo(sql);
      expect(f.admit('g', 'A', 1)).toBe(true);
      expect(f.admit('g', 'A', 2)).toBe(false); // held behind 1
      expect(f.pending('g', 1)).toBe(true);
      expect(f.pending('g', 2)).toBe(true);
      expect(f.pending('h', 1)).toBe(false);
      expect(f.finish('g', 1)).toBe(2);
      expect(f.pending('g', 1)).toBe(false);
      expect(f.pending('g', 2)).toBe(true);
    });
  });
});
