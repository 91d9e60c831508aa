/**
 * The `edgemq` command (bin/edgemq.mjs) against a real `wrangler dev` that requires a token:
 * help for every command, topics, a send/consume round trip, groups, messages, dead letters,
 * tokens, and the failures a newcomer meets (a wrong flag, no server, no token) with their exit codes.
 */
import { execFile, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { SimpleConsumer } from '../../src/client/index';
import { sleep, uniq } from './client';
import { freePort, useServer } from './server';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'edgemq.mjs');
const ADMIN = 'cli-e2e-admin-token';
const ctx = useServer({ vars: { ADMIN_TOKEN: ADMIN } });

interface Run { code: number | null; stdout: string; stderr: string; ms: number }

/** Runs `edgemq ...args` as a user would, from another directory, with EDGEMQ_URL and EDGEMQ_TOKEN set. */
function edgemq(args: string[], o: { input?: string; env?: Record<string, string>; interruptAfterMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: tmpdir(),
      env: { ...process.env, EDGEMQ_URL: ctx.server.url, EDGEMQ_TOKEN: ADMIN, NO_COLOR: '1', ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    if (o.interruptAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), o.interruptAfterMs);
    child.on('close', (code) => {
      clearTimeout(killer);
      if (process.env.CLI_TIMING) console.log(`${Date.now() - t0} ms: edgemq ${args.join(' ')}`);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin.end(o.input ?? '');
  });
}

const ok = (r: Run) => { expect(r.code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0); return r; };
const json = (r: Run) => JSON.parse(ok(r).stdout);
const ndjson = (r: Run) => ok(r).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** Every command a user can run, as the issue lists them (and a few more). */
const COMMANDS = [
  'topic create', 'topic list', 'topic show', 'topic update', 'topic delete', 'send', 'consume',
  'group list', 'group show', 'group create', 'group delete', 'group reset-offset',
  'message get', 'message query', 'message trace', 'dlq list', 'dlq resend', 'token create', 'token list', 'token revoke',
];

beforeAll(async () => { await promisify(execFile)(process.execPath, [BIN, '--build'], { cwd: ROOT }); }, 60_000);

describe('help', () => {
  it('`edgemq --help` lists every command, the global options, a quick start and the exit codes', async () => {
    const r = ok(await edgemq(['--help']));
    expect(r.stdout).toMatch(/^edgemq \d+\.\d+\.\d+: /);
    expect(r.stdout).toContain('Usage: edgemq <command> [arguments] [options]');
    for (const c of COMMANDS) expect(r.stdout, c).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    for (const g of ['--url', '--token', '--json', 'EDGEMQ_URL', 'EDGEMQ_TOKEN', 'Exit codes', 'edgemq topic create orders']) expect(r.stdout).toContain(g);
    expect(r.stderr).toBe('');
    expect((await edgemq([])).stdout).toBe(r.stdout); // no arguments: the same help
    expect(ok(await edgemq(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('`npx edgemq --help` works in the project (the package bin)', async () => {
    const r = await promisify(execFile)('npx', ['--offline', '--no-install', 'edgemq', '--help'], { cwd: ROOT, timeout: 60_000 });
    expect(r.stdout).toContain('Usage: edgemq <command>');
  }, 60_000);

  it("each command's --help gives its usage, arguments, options and examples", async () => {
    const runs = await Promise.all(COMMANDS.map((c) => edgemq([...c.split(' '), '--help'])));
    runs.forEach((r, i) => {
      const c = COMMANDS[i];
      ok(r);
      expect(r.stdout, c).toContain(`Usage: edgemq ${c}`);
      expect(r.stdout, c).toContain('Global options:');
      expect(r.stdout, c).toMatch(new RegExp(`Examples:\\n  edgemq ${c.split(' ')[0]} `));
    });
    // the same through `help`, and a command word alone lists its commands
    expect(ok(await edgemq(['help', 'consume'])).stdout).toBe(runs[COMMANDS.indexOf('consume')].stdout);
    const topic = ok(await edgemq(['topic', '--help'])).stdout;
    for (const sub of ['create', 'list', 'show', 'update', 'delete']) expect(topic).toContain(`edgemq topic ${sub}`);
    expect(runs[COMMANDS.indexOf('send')].stdout).toMatch(/--delay <duration>/);
    expect(runs[COMMANDS.indexOf('consume')].stdout).toMatch(/-g, --group <group>/);
  });
});

describe('mistakes and failures: a clear message and a meaningful exit code', () => {
  it('a wrong flag exits 2, naming it, suggesting the right one, and pointing at the help', async () => {
    const r = await edgemq(['topic', 'create', 'x', '--quues', '4']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("unknown option '--quues' for `edgemq topic create`; did you mean --queues?");
    expect(r.stderr).toContain('See `edgemq topic create --help`.');
  });

  it('other usage errors exit 2: unknown command, missing argument, bad value, a flag without its value', async () => {
    const [cmd, sub, missing, value, noValue, noGroup] = await Promise.all([
      edgemq(['topik', 'list']), edgemq(['topic', 'craete', 'x']), edgemq(['topic', 'show']),
      edgemq(['topic', 'create', 'x', '--queues', 'many']), edgemq(['send', 'x', 'hi', '--tag']), edgemq(['consume', 'x']),
    ]);
    for (const r of [cmd, sub, missing, value, noValue, noGroup]) expect(r.code, r.stderr).toBe(2);
    expect(cmd.stderr).toContain("unknown command 'topik'; did you mean `edgemq topic`?");
    expect(sub.stderr).toContain('did you mean `edgemq topic create`?');
    expect(missing.stderr).toContain('missing <topic>: usage: edgemq topic show <topic>');
    expect(value.stderr).toContain("--queues must be a whole number from 1 to 64 (got 'many')");
    expect(noValue.stderr).toContain('option --tag needs a value <tag>');
    expect(noGroup.stderr).toContain('consume needs --group <group>');
  });

  it('an unreachable server exits 3 and says where it looked and what to do', async () => {
    const port = await freePort();
    const r = await edgemq(['topic', 'list'], { env: { EDGEMQ_URL: `http://127.0.0.1:${port}` } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach the edgemq server at http://127.0.0.1:${port}: connection refused`);
    expect(r.stderr).toContain('Is the server running');
    expect(r.ms).toBeLessThan(10_000);
    const json = await edgemq(['topic', 'list', '--json', '--url', `http://127.0.0.1:${port}`]);
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'NETWORK_ERROR' } });
  });

  it('no token exits 4 with a hint; so does a token without the permission', async () => {
    const none = await edgemq(['topic', 'list'], { env: { EDGEMQ_TOKEN: '' } });
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('UNAUTHORIZED');
    expect(none.stderr).toContain('--token or EDGEMQ_TOKEN');

    const topic = uniq('cli-perm');
    ok(await edgemq(['topic', 'create', topic]));
    const tok = json(await edgemq(['token', 'create', uniq('pub'), '--allow', `topic:${topic}=PUB`, '--json']));
    ok(await edgemq(['send', topic, 'allowed', '--token', tok.token]));
    const denied = await edgemq(['consume', topic, '--group', 'g', '--token', tok.token]);
    expect(denied.code).toBe(4);
    expect(denied.stderr).toContain('FORBIDDEN');
    expect(denied.stderr).toContain('lacks SUB');
  });

  it('a missing topic exits 5, an existing one 6', async () => {
    const missing = await edgemq(['topic', 'show', uniq('nope')]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/^edgemq: topic "nope-[^"]+" does not exist.*\(TOPIC_NOT_FOUND, HTTP 404\)$/m);
    const name = uniq('cli-dup');
    ok(await edgemq(['topic', 'create', name]));
    const dup = await edgemq(['topic', 'create', name]);
    expect(dup.code).toBe(6);
    expect(dup.stderr).toContain('TOPIC_EXISTS');
  });
});

describe('topics', () => {
  it('create, list, show, update, delete (tables for people, --json for scripts)', async () => {
    const name = uniq('cli-topic');
    const created = json(await edgemq(['topic', 'create', name, '--queues', '2', '--type', 'normal', '--retention-hours', '24', '--json']));
    expect(created).toMatchObject({ name, queues: 2, type: 'NORMAL', retentionHours: 24 });

    const table = ok(await edgemq(['topic', 'list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^NAME\s+TYPE\s+QUEUES\s+MESSAGES\s+SIZE$/);
    expect(table.find((l) => l.startsWith(`${name} `))).toMatch(new RegExp(`^${name}\\s+NORMAL\\s+2\\s+0\\s+0 B$`));
    expect(json(await edgemq(['topic', 'list', '--json'])).topics.map((t: { name: string }) => t.name)).toContain(name);

    const shown = ok(await edgemq(['topic', 'show', name])).stdout;
    expect(shown).toMatch(/^name:\s+cli-topic-/m);
    expect(shown).toMatch(/^retention:\s+24h$/m);
    expect(shown).toMatch(/^QUEUE\s+MIN OFFSET\s+MAX OFFSET/m);
    expect(json(await edgemq(['topic', 'show', name, '--json'])).queueStatus).toHaveLength(2);

    expect(json(await edgemq(['topic', 'update', name, '--queues', '3', '--json'])).queues).toBe(3);

    const del = ok(await edgemq(['topic', 'delete', name]));
    expect(del.stderr).toContain(`deleted topic ${name}`);
    expect((await edgemq(['topic', 'show', name])).code).toBe(5);
  });
});

describe('send and consume', () => {
  it('round trip with --json: arguments and stdin lines, tag, keys, properties, JSON bodies', async () => {
    const topic = uniq('cli-rt');
    const group = uniq('g');
    ok(await edgemq(['topic', 'create', topic, '--queues', '2']));

    const sent1 = json(await edgemq(['send', topic, 'hello', 'world', '--tag', 'greet', '--key', 'k1', '--key', 'k2', '-p', 'region=eu', '--json']));
    expect(sent1.messages).toHaveLength(2);
    const sent2 = json(await edgemq(['send', topic, '--encoding', 'json', '--json'], { input: '{"n":1}\n\n{"n":2}\n[3]\n' }));
    expect(sent2.messages).toHaveLength(3);

    const got = ndjson(await edgemq(['consume', topic, '--group', group, '--count', '10', '--json']));
    expect(got).toHaveLength(5);
    const ids = [...sent1.messages, ...sent2.messages].map((m: { messageId: string }) => m.messageId).sort();
    expect(got.map((m) => m.messageId).sort()).toEqual(ids);
    const hello = got.find((m) => m.body === 'hello');
    expect(hello).toMatchObject({ topic, encoding: 'text', tag: 'greet', keys: ['k1', 'k2'], properties: { region: 'eu' }, deliveryAttempt: 1 });
    expect(got.filter((m) => m.encoding === 'json').map((m) => m.body)).toEqual(expect.arrayContaining([{ n: 1 }, { n: 2 }, [3]]));

    // they were acked: nothing more for the group
    const none = await edgemq(['consume', topic, '--group', group, '--wait', '500ms']);
    ok(none);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(`no messages for group ${group} on ${topic}`);
    expect(json(await edgemq(['group', 'show', group, '--json'])).lag).toBe(0);

    // a table for people
    ok(await edgemq(['send', topic, 'for people']));
    const people = ok(await edgemq(['consume', topic, '-g', group]));
    expect(people.stdout).toMatch(/^MESSAGE ID\s+QUEUE\s+OFFSET\s+ATTEMPT\s+TAG\s+KEYS\s+BODY\n\S+\s+\d\s+\d+\s+1\s+-\s+-\s+for people\n$/);
    expect(people.stderr).toContain('received 1 message, acked');
  });

  it('--follow receives as messages arrive and stops at --count; Ctrl-C ends it cleanly', async () => {
    const topic = uniq('cli-follow');
    ok(await edgemq(['topic', 'create', topic]));
    const following = edgemq(['consume', topic, '-g', 'follow', '--follow', '--count', '2', '--json']);
    await sleep(1500);
    ok(await edgemq(['send', topic, 'one', 'two']));
    const r = await following;
    expect(ndjson(r).map((m) => m.body).sort()).toEqual(['one', 'two']);

    const idle = await edgemq(['consume', topic, '-g', 'follow', '--follow'], { interruptAfterMs: 1500 });
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.ms).toBeLessThan(8000);
  });

  it('--delay schedules, --dedup-id stores once, and a bad stdin line is refused before anything is sent', async () => {
    const topic = uniq('cli-opts');
    ok(await edgemq(['topic', 'create', topic]));
    const [scheduled] = json(await edgemq(['send', topic, 'later', '--delay', '1h', '--json'])).messages;
    expect(scheduled.queueOffset).toBeNull();
    const first = json(await edgemq(['send', topic, 'once', '--dedup-id', 'abc', '--json'])).messages[0];
    const again = json(await edgemq(['send', topic, 'once', '--dedup-id', 'abc', '--json'])).messages[0];
    expect(again).toMatchObject({ messageId: first.messageId, duplicate: true });
    const bad = await edgemq(['send', topic, '--encoding', 'json'], { input: '{"ok":1}\nnot json\n' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('stdin line 2 is not JSON');
    expect(json(await edgemq(['topic', 'show', topic, '--json'])).messages).toBe(1);
  });
});

describe('groups, messages, dead letters, tokens', () => {
  it('group create/list/show/reset-offset; message get/query/trace; dlq list/resend', async () => {
    const topic = uniq('cli-grp');
    const group = uniq('g');
    ok(await edgemq(['topic', 'create', topic, '--queues', '1']));
    ok(await edgemq(['group', 'create', group, '--max-retries', '0', '--backoff', 'exponential:0:100:1', '--invisible', '10s']));
    const [m1, m2] = json(await edgemq(['send', topic, 'first', 'second', '--key', 'order-1', '--json'])).messages;

    // the first is acked, the second fails its only delivery: dead-lettered
    const c = new SimpleConsumer({ url: ctx.server.url, token: ADMIN, topic, group });
    const got = await c.receive({ waitMs: 2000 });
    expect(got).toHaveLength(2);
    await c.ack(got.filter((m) => m.messageId === m1.messageId));
    await c.nack(got.filter((m) => m.messageId === m2.messageId));

    expect(ok(await edgemq(['group', 'list'])).stdout).toMatch(new RegExp(`^${group}\\s+CLUSTERING\\s+\\d+\\s+\\d+$`, 'm'));
    const shown = ok(await edgemq(['group', 'show', group])).stdout;
    expect(shown).toMatch(/^max retries:\s+0$/m);
    expect(shown).toMatch(new RegExp(`^${topic}\\s+0\\s+2\\s+2\\s+0\\s+0\\s+0$`, 'm'));

    const detail = json(await edgemq(['message', 'get', topic, m1.messageId, '--json']));
    expect(detail).toMatchObject({ messageId: m1.messageId, body: 'first', state: 'STORED' });
    expect(ok(await edgemq(['message', 'get', topic, m1.messageId])).stdout).toMatch(/^body:\s+first$/m);
    const found = json(await edgemq(['message', 'query', topic, '--key', 'order-1', '--json']));
    expect(found.messages.map((m: { messageId: string }) => m.messageId).sort()).toEqual([m1.messageId, m2.messageId].sort());
    const byTime = json(await edgemq(['message', 'query', topic, '--start', 'now-1h', '--all', '--limit', '1', '--json']));
    expect(byTime.messages).toHaveLength(2);
    const trace = json(await edgemq(['message', 'trace', topic, m1.messageId, '--json']));
    expect(trace.events.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['PUBLISHED', 'DELIVERED', 'ACKED']));
    expect(ok(await edgemq(['message', 'trace', topic, m1.messageId])).stdout).toMatch(/^\S+ \S+\s+ACKED\s+group=/m);

    let dead: { messages: { messageId: string; body: unknown; properties: Record<string, string> }[] } = { messages: [] };
    for (let i = 0; i < 50 && !dead.messages.length; i++) {
      dead = json(await edgemq(['dlq', 'list', group, '--json']));
      if (!dead.messages.length) await sleep(200);
    }
    expect(dead.messages).toHaveLength(1);
    expect(dead.messages[0]).toMatchObject({ body: 'second', properties: { ORIGIN_TOPIC: topic, ORIGIN_MESSAGE_ID: m2.messageId } });
    expect(ok(await edgemq(['dlq', 'list', group])).stdout).toContain(m2.messageId);
    expect((await edgemq(['dlq', 'resend', group])).code).toBe(2); // which ones? ids or --all
    const resent = ok(await edgemq(['dlq', 'resend', group, '--all']));
    expect(resent.stderr).toContain(`resent 1 dead letter of ${group}`);
    expect(ndjson(await edgemq(['consume', topic, '-g', group, '--json'])).map((m) => m.body)).toEqual(['second']);

    const reset = json(await edgemq(['group', 'reset-offset', group, '--topic', topic, '--to', 'earliest', '--json']));
    expect(reset.offsets).toEqual([{ queueId: 0, offset: 0 }]);
    // from the start again: both, and the resent copy of the second (it is in the log too, for this group)
    expect(ndjson(await edgemq(['consume', topic, '-g', group, '--json'])).map((m) => m.body).sort()).toEqual(['first', 'second', 'second']);
  });

  it('token create (shown once), list, revoke', async () => {
    const name = uniq('tok');
    const created = ok(await edgemq(['token', 'create', name, '--allow', 'topic:orders=PUB,SUB', '--allow', 'group:billing=SUB']));
    expect(created.stdout).toMatch(/^token:\s+emq_\S+$/m);
    expect(created.stderr).toContain('not shown again');
    const listed = ok(await edgemq(['token', 'list'])).stdout;
    expect(listed).toMatch(new RegExp(`^${name}\\s+topic:orders=PUB,SUB group:billing=SUB\\s+\\d{4}-`, 'm'));
    expect(listed).not.toContain('emq_');
    ok(await edgemq(['token', 'revoke', name]));
    expect(json(await edgemq(['token', 'list', '--json'])).tokens.map((t: { name: string }) => t.name)).not.toContain(name);
    expect((await edgemq(['token', 'revoke', name])).code).toBe(5);
    const bad = await edgemq(['token', 'create', 'x', '--allow', 'orders=PUB']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--allow must be RESOURCE=ACTIONS');
  });
});
