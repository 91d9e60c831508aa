// The disk's own durability floor: how long a small write plus fdatasync takes on the filesystem
// that holds the server's state, measured alone (nothing else of the bench runs meanwhile).
// Under wrangler dev every Durable Object commit is one fsync, made on workerd's only thread, and
// a message is answered and delivered only once its commit's fsync has returned: the tail of this
// distribution is a floor under edgemq's latency percentiles (and under any broker that fsyncs
// before it answers, such as Redis with appendfsync always).
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pct, round } from './stats.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Appends `bytes` and fdatasyncs, `n` times, `gapMs` apart (the pace of one commit per message at
 * 1,000 messages/s). Answers ms { n, p50, p90, p99, max, over5ms }.
 */
export async function fsyncProbe(dir, { n = 2000, gapMs = 1, bytes = 4096 } = {}) {
  const tmp = await mkdtemp(join(dir, 'fsync-probe-'));
  const fh = await open(join(tmp, 'log'), 'w');
  const block = Buffer.alloc(bytes, 0x61);
  const ms = new Float64Array(n);
  try {
    for (let i = 0; i < n; i++) {
      await fh.write(block, 0, bytes, i * bytes);
      const t0 = performance.now();
      await fh.datasync();
      ms[i] = performance.now() - t0;
      if (gapMs > 0) await sleep(gapMs);
    }
  } finally {
    await fh.close();
    await rm(tmp, { recursive: true, force: true });
  }
  ms.sort();
  const p = (q) => round(pct(ms, q), 2);
  return { n, bytes, gapMs, p50: p(50), p90: p(90), p99: p(99), max: p(100), over5ms: ms.filter((x) => x > 5).length };
}
