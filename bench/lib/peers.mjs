// The peer brokers (RabbitMQ, Redis Streams, NATS JetStream) beside edgemq: finds their benchmark
// (../shared/peers/bench.mjs, used unchanged) and its npm clients, starts and stops the brokers with
// ../shared/peers/brokers.sh (state under a temporary PEERS_DIR in /tmp), and runs the benchmark
// on them in a child process, one pass at a time, so that bench/compare.mjs can alternate them
// with edgemq. Everything here is optional: what is not installed is skipped with a reason.
//
// Where things are looked for (the first that has them):
//   bench.mjs + brokers.sh: $PEERS_SRC, ../shared/peers (beside the repository), /work/shared/peers
//   clients (amqplib, ioredis, nats, stompit: bench.mjs imports all four):
//     $PEERS_NODE_MODULES, the project's node_modules, <peers src>/node_modules, /tmp/peers-bench/node_modules
//   (e.g. `cp -r ../shared/peers /tmp/peers-bench && (cd /tmp/peers-bench && npm install)`)
//   servers: redis-server, nats-server on PATH; /usr/lib/rabbitmq/bin/rabbitmq-server (`brokers.sh install`)
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, createWriteStream } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLIENTS = ['amqplib', 'ioredis', 'nats', 'stompit'];

/** Which broker process a bench.mjs variant runs on. */
export const KIND_OF = (variant) => (variant.startsWith('rabbitmq') ? 'rabbitmq' : variant.startsWith('redis') ? 'redis' : variant.startsWith('nats') ? 'nats' : variant);
const PORTS = { redis: [6379], nats: [4222], rabbitmq: [5672, 25672] };

/** What each variant's ack means (for the results table). */
export const ACK_MEANS = {
  rabbitmq: 'publisher confirm after the message is written to disk (durable classic queue, persistent messages)',
  'rabbitmq-cq2': 'publisher confirm after the disk write (classic queue v2)',
  'rabbitmq-quorum': 'publisher confirm after the Raft log is fsynced (quorum queue, 1 node)',
  redis: 'XADD reply; AOF fsynced once a second (the last second may be lost)',
  'redis-always': 'XADD reply after the AOF write, fsynced before replying (appendfsync always; fsyncs batched across clients)',
  nats: 'PubAck after JetStream stored it in the page cache (no fsync)',
  'nats-async': 'PubAck after JetStream stored it in the page cache (no fsync; raw async publish)',
};
export const LABEL = {
  rabbitmq: 'RabbitMQ classic, durable', 'rabbitmq-cq2': 'RabbitMQ classic v2', 'rabbitmq-quorum': 'RabbitMQ quorum',
  redis: 'Redis Streams, AOF everysec', 'redis-always': 'Redis Streams, AOF always', nats: 'NATS JetStream (js.publish)',
  'nats-async': 'NATS JetStream, async publish',
};

function onPath(bin) {
  for (const d of (process.env.PATH || '').split(delimiter)) if (d && existsSync(join(d, bin))) return join(d, bin);
  for (const d of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) if (existsSync(join(d, bin))) return join(d, bin);
  return null;
}

/** Is something listening on 127.0.0.1:port? */
export function portOpen(port, timeoutMs = 500) {
  return new Promise((res) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const done = (v) => { s.destroy(); res(v); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Finds the peers' benchmark, clients and servers. Returns { src, modules, servers: {kind: bool},
 * missing: [reasons] }; src or modules null when not found.
 */
export function findPeers(root) {
  const missing = [];
  const srcs = [process.env.PEERS_SRC, resolve(root, '..', 'shared', 'peers'), '/work/shared/peers'].filter(Boolean);
  const src = srcs.find((d) => existsSync(join(d, 'bench.mjs')) && existsSync(join(d, 'brokers.sh'))) ?? null;
  if (!src) missing.push(`no peers benchmark (bench.mjs + brokers.sh) in ${srcs.join(', ')}`);
  const mods = [process.env.PEERS_NODE_MODULES, join(root, 'node_modules'), src && join(src, 'node_modules'), '/tmp/peers-bench/node_modules'].filter(Boolean);
  const modules = mods.find((d) => CLIENTS.every((c) => existsSync(join(d, c, 'package.json')))) ?? null;
  if (!modules) missing.push(`the peers' npm clients (${CLIENTS.join(', ')}) are in none of ${mods.join(', ')}: install them (see bench/lib/peers.mjs)`);
  const servers = {
    redis: !!onPath('redis-server') && !!onPath('redis-cli'),
    nats: !!onPath('nats-server'),
    rabbitmq: existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server'),
  };
  for (const [k, v] of Object.entries(servers)) if (!v) missing.push(`${k} server not installed (bash ${src ?? '../shared/peers'}/brokers.sh install)`);
  return { src, modules, servers, missing };
}

/**
 * Starts the brokers the variants need (brokers.sh start, PEERS_DIR in a new /tmp directory) and
 * prepares a copy of bench.mjs whose imports resolve to `modules`. Returns
 * { dir, variants (those that can run), skipped: {variant: reason}, runPass(args), stop() }.
 */
export async function startPeers({ variants, found, log }) {
  const dir = mkdtempSync(join(tmpdir(), 'edgemq-peers-'));
  const peersDir = join(dir, 'state');
  copyFileSync(join(found.src, 'bench.mjs'), join(dir, 'bench.mjs'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}\n');
  symlinkSync(found.modules, join(dir, 'node_modules'), 'dir');
  const env = { ...process.env, PEERS_DIR: peersDir };
  const brokersSh = join(found.src, 'brokers.sh');
  const skipped = {};
  const started = [];
  const kinds = [...new Set(variants.map(KIND_OF))];
  for (const kind of kinds) {
    if (!found.servers[kind]) { skipped[kind] = 'server not installed'; continue; }
    const busy = [];
    for (const p of PORTS[kind] ?? []) if (await portOpen(p)) busy.push(p);
    if (busy.length) { skipped[kind] = `port ${busy.join(', ')} already in use (another instance?): not started, not measured`; continue; }
    const t0 = Date.now();
    try {
      const r = await run('bash', [brokersSh, 'start', kind], { env, timeout: 180_000, maxBuffer: 1 << 22 });
      if (!(await portOpen(PORTS[kind][0], 2000))) throw new Error(`not listening after start: ${(r.stdout + r.stderr).trim().slice(-400)}`);
      started.push(kind);
      log(`peers: ${kind} started in ${Date.now() - t0} ms`);
    } catch (e) {
      skipped[kind] = `start failed: ${String(e.message || e).slice(0, 400)}`;
      log(`peers: ${kind} ${skipped[kind]}`);
      try { await run('bash', [brokersSh, 'stop', kind], { env, timeout: 90_000 }); } catch { /* nothing to stop */ }
    }
  }
  const ok = variants.filter((v) => started.includes(KIND_OF(v)));
  for (const v of variants) if (!ok.includes(v)) skipped[v] = skipped[KIND_OF(v)] ?? 'not started';
  let pass = 0;

  /** Runs bench.mjs once over the ok variants; answers its JSON records (one per variant). */
  async function runPass(args, { timeoutSec = 900, label = 'pass' } = {}) {
    if (!ok.length) return [];
    const out = join(dir, `results-${++pass}.jsonl`);
    const logFile = join(dir, `bench-${pass}.log`);
    const argv = [join(dir, 'bench.mjs'), '--brokers', ok.join(','), '--runs', '1', '--out', out, '--global-timeout', String(timeoutSec), ...args];
    const lf = createWriteStream(logFile);
    const child = spawn(process.execPath, argv, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(lf); child.stderr.pipe(lf);
    const code = await new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
    lf.end();
    const rows = existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
    if (code !== 0 || rows.length < ok.length) {
      log(`peers: ${label} exited with ${code} and ${rows.length}/${ok.length} results; its log: ${logFile}`);
    }
    return rows;
  }

  async function stop({ keep = false } = {}) {
    for (const kind of [...started].reverse()) {
      try { await run('bash', [brokersSh, 'stop', kind], { env, timeout: 120_000 }); log(`peers: ${kind} stopped`); } catch (e) { log(`peers: stopping ${kind}: ${e.message}`); }
    }
    started.length = 0;
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
  return { dir, variants: ok, skipped, runPass, stop };
}
