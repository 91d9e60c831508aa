/**
 * SQLite schemas of both objects, one migration list each. A migration runs once, in order, in
 * the object's constructor (blockConcurrencyWhile), and its number is kept in `schema_version`.
 */

export const BROKER_MIGRATIONS: string[] = [
  `CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
   -- commit log: one row per appended batch (or slice of one), records packed in data
   CREATE TABLE segments (base INTEGER PRIMARY KEY, n INTEGER NOT NULL, ts INTEGER NOT NULL,
     bytes INTEGER NOT NULL, data TEXT NOT NULL);
   CREATE INDEX segments_ts ON segments(ts);
   -- bodies too big to share a segment row (rows are capped at 2 MB), in 1 MiB parts
   CREATE TABLE bigbodies (off INTEGER NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL,
     PRIMARY KEY (off, part)) WITHOUT ROWID;
   CREATE TABLE dedup (id TEXT PRIMARY KEY, message_id TEXT NOT NULL, off INTEGER,
     expires INTEGER NOT NULL) WITHOUT ROWID;
   CREATE INDEX dedup_expires ON dedup(expires);
   -- scheduled messages wait here until due, then are appended to the log
   CREATE TABLE scheduled (seq INTEGER PRIMARY KEY AUTOINCREMENT, due INTEGER NOT NULL, data TEXT NOT NULL);
   CREATE INDEX scheduled_due ON scheduled(due);
   -- consume state of each group (or broadcasting consumer) on this queue
   CREATE TABLE cgroups (grp TEXT PRIMARY KEY, next INTEGER NOT NULL, config TEXT NOT NULL) WITHOUT ROWID;
   -- in-flight deliveries: one row per receive, items = [[offset, attempt], ...] still unacked
   CREATE TABLE leases (id INTEGER PRIMARY KEY, grp TEXT NOT NULL, deadline INTEGER NOT NULL,
     min_off INTEGER NOT NULL, consumer TEXT, items TEXT NOT NULL);
   CREATE INDEX leases_deadline ON leases(deadline);
   CREATE INDEX leases_min ON leases(grp, min_off);
   -- failed deliveries waiting for their backoff (dlq = 0) or to move to the DLQ (dlq = 1)
   CREATE TABLE retries (grp TEXT NOT NULL, off INTEGER NOT NULL, attempt INTEGER NOT NULL,
     due INTEGER NOT NULL, dlq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (grp, off)) WITHOUT ROWID;
   CREATE INDEX retries_grp_due ON retries(grp, dlq, due);
   CREATE INDEX retries_due ON retries(dlq, due);`,
  // push consumers and FIFO message groups
  `CREATE INDEX leases_consumer ON leases(consumer);
   -- FIFO messages a group reached and has not finished: the lowest offset per mg is out, the rest held
   CREATE TABLE fifo (grp TEXT NOT NULL, mg TEXT NOT NULL, off INTEGER NOT NULL, PRIMARY KEY (grp, mg, off)) WITHOUT ROWID;
   CREATE INDEX fifo_off ON fifo(grp, off);
   -- the filter of each push connection (too long for a socket attachment)
   CREATE TABLE push_filters (conn TEXT PRIMARY KEY, filter TEXT) WITHOUT ROWID;`,
  // pending messages (scheduled and half) keep their row after they resolve, for query and recall
  `ALTER TABLE scheduled ADD COLUMN state INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE scheduled ADD COLUMN off INTEGER;
   ALTER TABLE scheduled ADD COLUMN tx INTEGER;
   ALTER TABLE scheduled ADD COLUMN resolved INTEGER;
   DROP INDEX scheduled_due;
   CREATE INDEX scheduled_state_due ON scheduled(state, due);
   CREATE INDEX scheduled_tx ON scheduled(tx);
   CREATE INDEX scheduled_resolved ON scheduled(resolved);
   -- transactions (half messages): open until committed, rolled back, or timed out after checks
   CREATE TABLE txs (id INTEGER PRIMARY KEY AUTOINCREMENT, state INTEGER NOT NULL, created INTEGER NOT NULL,
     due INTEGER NOT NULL, checks INTEGER NOT NULL DEFAULT 0, opts TEXT NOT NULL, resolved INTEGER);
   CREATE INDEX txs_state_due ON txs(state, due);`,
  // query and trace: keys indexed at append time; trace events one row per operation and bucket
  `CREATE TABLE keyidx (k TEXT NOT NULL, off INTEGER NOT NULL, PRIMARY KEY (k, off)) WITHOUT ROWID;
   CREATE INDEX keyidx_off ON keyidx(off);
   CREATE TABLE trace (id INTEGER PRIMARY KEY AUTOINCREMENT, bucket INTEGER NOT NULL, at INTEGER NOT NULL,
     type TEXT NOT NULL, offs TEXT NOT NULL, data TEXT);
   CREATE INDEX trace_bucket ON trace(bucket);
   CREATE INDEX trace_at ON trace(at);
   -- DLQ bookkeeping on a %DLQ% queue: which dead letters were resent
   CREATE TABLE resent (off INTEGER PRIMARY KEY, at INTEGER NOT NULL, message_id TEXT);
   -- per-minute counters, written once per minute of activity
   CREATE TABLE stats (minute INTEGER NOT NULL, grp TEXT NOT NULL, produced INTEGER NOT NULL,
     consumed INTEGER NOT NULL, lag INTEGER, PRIMARY KEY (minute, grp)) WITHOUT ROWID;`,
  // every index is rows written on each insert: drop those the hot path pays for and only rare
  // reads use (leases are few, so scanning them is cheap; trace is purged by id, see trace.ts)
  `DROP INDEX leases_min;
   DROP INDEX leases_consumer;
   DROP INDEX trace_at;`,
  // Every secondary index and AUTOINCREMENT counter is one more row written per insert
  // (docs/operations.md, cost model). Store times never decrease with the offset, so segments are
  // found by time by binary search over their primary key (commitlog.ts).
  `DROP INDEX segments_ts;`,
  // the earliest lease deadline is kept in memory; the alarm scans the in-flight leases (consume.ts)
  `DROP INDEX leases_deadline;`,
  // trace is written behind, one row per bucket per flush (trace.ts): `events` holds
  // [type, at, offs, data] of each event in order, the rows of a bucket are read in `id` order.
  // Existing events keep their order: each old row becomes a row of one event, under its old id.
  `CREATE TABLE trace_v8 (bucket INTEGER NOT NULL, id INTEGER NOT NULL, events TEXT NOT NULL,
     PRIMARY KEY (bucket, id)) WITHOUT ROWID;
   INSERT INTO trace_v8 (bucket, id, events)
     SELECT bucket, id, json_array(json_array(type, at, json(offs), json(data))) FROM trace;
   DROP TABLE trace;
   ALTER TABLE trace_v8 RENAME TO trace;`,
];

export const NAMESERVER_MIGRATIONS: string[] = [
  `CREATE TABLE topics (name TEXT PRIMARY KEY, incarnation TEXT NOT NULL, config TEXT NOT NULL,
     created_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE groups (name TEXT PRIMARY KEY, config TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE subscriptions (grp TEXT NOT NULL, topic TEXT NOT NULL, filter TEXT,
     updated_at INTEGER NOT NULL, PRIMARY KEY (grp, topic)) WITHOUT ROWID;
   CREATE INDEX subscriptions_topic ON subscriptions(topic);`,
  // issued tokens: only a SHA-256 of the secret is kept
  `CREATE TABLE tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, permissions TEXT NOT NULL,
     created_at INTEGER NOT NULL) WITHOUT ROWID;`,
];

/**
 * Runs the migrations not yet applied. With `transaction` (the object's transactionSync), each
 * migration and its version bump commit together: one that fails leaves the previous version
 * whole, to be tried again on the next start.
 */
export function migrate(sql: SqlStorage, migrations: string[], transaction: <T>(fn: () => T) => T = (fn) => fn()): void {
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL)');
  const row = sql.exec<{ v: number }>('SELECT v FROM schema_version').toArray()[0];
  let v = row?.v ?? 0;
  if (!row) sql.exec('INSERT INTO schema_version (v) VALUES (0)');
  for (; v < migrations.length; v++) {
    const next = v + 1;
    transaction(() => {
      sql.exec(migrations[next - 1]);
      sql.exec('UPDATE schema_version SET v = ?', next);
    });
  }
}
