// Query speed on a big queue (issue: "by key and by id answer in O(log n), by time without
// scanning the whole log; show it with 1,000,000 messages"). Fills one queue with `queryBacklog`
// messages (each with a unique key), then times lookups by id, by key and by store time at the
// head, middle and tail, beside the same lookups on a queue of `querySmall` messages.
import { makeClient } from './lib/http.mjs';
import { fmt, latencySummary, round } from './lib/stats.mjs';

export const DEFAULTS = {
  queryBacklog: 1_000_000,
  querySmall: 1000,
  queryFillBatch: 1000,
  queryFillConnections: 4,
  queryRepeats: 30,
};

async function fill(http, topic, n, batch, conns, log) {
  const ids = new Array(n);
  const times = [];
  let next = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: conns }, async () => {
    for (;;) {
      const start = next;
      if (start >= n) return;
      next += batch;
      const count = Math.min(batch, n - start);
      const body = JSON.stringify({
        messages: Array.from({ length: count }, (_, k) => ({ body: 'x'.repeat(200), keys: [`k${start + k}`] })),
      });
      const r = await http.request('POST', `/v1/topics/${topic}/messages`, body);
      r.json.messages.forEach((m, k) => { ids[start + k] = m.messageId; });
      times.push({ at: Date.now(), upto: start + count });
      if (n >= 100_000 && (start / batch) % 100 === 0) log(`  filled ${fmt(start + count)} / ${fmt(n)} (${fmt((start + count) / ((Date.now() - t0) / 1000))} msg/s)`);
    }
  }));
  return { ids, seconds: (Date.now() - t0) / 1000 };
}

async function timeIt(http, path, repeats) {
  const ms = [];
  let found = 0;
  for (let i = 0; i < repeats; i++) {
    const r = await http.request('GET', path);
    ms.push(r.ms);
    found = r.json.messages ? r.json.messages.length : 1;
  }
  return { ...latencySummary(ms), found };
}

async function lookups(http, topic, ids, repeats) {
  const n = ids.length;
  const at = { head: 0, middle: Math.floor(n / 2), tail: n - 1 };
  const out = {};
  for (const [where, i] of Object.entries(at)) {
    const byId = await timeIt(http, `/v1/topics/${topic}/messages/${ids[i]}`, repeats);
    const byKey = await timeIt(http, `/v1/topics/${topic}/messages?key=k${i}`, repeats);
    const m = (await http.request('GET', `/v1/topics/${topic}/messages/${ids[i]}`)).json;
    const byTime = await timeIt(http, `/v1/topics/${topic}/messages?start=${m.storeTimestamp}&end=${m.storeTimestamp + 5}&limit=64`, repeats);
    out[where] = { byId, byKey, byTime };
  }
  return out;
}

export async function runQuery({ url, opts = {}, log = (s) => console.error(s) }) {
  const o = { ...DEFAULTS, ...opts };
  url = url.replace(/\/+$/, '');
  const http = makeClient(url, { connections: o.queryFillConnections });
  const stamp = Date.now().toString(36);
  const small = `bench-q-small-${stamp}`, big = `bench-q-big-${stamp}`;
  await http.request('POST', '/v1/topics', { name: small, queues: 1, trace: false });
  await http.request('POST', '/v1/topics', { name: big, queues: 1, trace: false });
  log(`query: filling ${fmt(o.querySmall)} and ${fmt(o.queryBacklog)} messages (each with a key)`);
  const s = await fill(http, small, o.querySmall, o.queryFillBatch, o.queryFillConnections, log);
  const b = await fill(http, big, o.queryBacklog, o.queryFillBatch, o.queryFillConnections, log);
  log(`query: filled the big queue in ${round(b.seconds, 1)} s; timing lookups`);
  const smallRes = await lookups(http, small, s.ids, o.queryRepeats);
  const bigRes = await lookups(http, big, b.ids, o.queryRepeats);
  await http.close();
  return { opts: o, fillSeconds: b.seconds, small: smallRes, big: bigRes };
}

export function queryMarkdown(r) {
  const rows = [];
  for (const where of ['head', 'middle', 'tail']) {
    for (const [kind, label] of [['byId', 'by id'], ['byKey', 'by key'], ['byTime', 'by store time']]) {
      const a = r.small[where][kind], b = r.big[where][kind];
      rows.push(`| ${label} | ${where} | ${round(a.p50, 1)} / ${round(a.p99, 1)} | ${round(b.p50, 1)} / ${round(b.p99, 1)} | ${round(b.p50 / a.p50, 2)} | ${b.found} |`);
    }
  }
  return [
    `### query: lookups on a queue of ${fmt(r.opts.queryBacklog)} messages vs ${fmt(r.opts.querySmall)} (ms, p50 / p99 of ${r.opts.queryRepeats})`,
    '',
    `| lookup | where | ${fmt(r.opts.querySmall)} messages | ${fmt(r.opts.queryBacklog)} messages | big / small p50 | found |`,
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Filling ${fmt(r.opts.queryBacklog)} keyed messages took ${round(r.fillSeconds, 1)} s.`,
  ].join('\n');
}
