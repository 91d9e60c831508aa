/** Produce: single, batch, raw body, encodings, attributes, limits, routing, dedup, topic types. */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, expectError, uniq, type Json } from './client';
import { useServer } from './server';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

const produceRaw = (topic: string, body: unknown) => api.post(`/v1/topics/${topic}/messages`, body);

/** Asserts a rejected produce stored nothing on the topic. */
async function rejected(topic: string, body: unknown, status: number, code: string, opts?: Parameters<Api['post']>[2]): Promise<string> {
  const before = await api.stored(topic);
  const msg = expectError(await api.post(`/v1/topics/${topic}/messages`, body, opts), status, code);
  expect(await api.stored(topic), `nothing stored after ${code}`).toBe(before);
  return msg;
}

/** Produces and receives back, with a fresh group: the message as a consumer sees it. */
async function roundTrip(topic: string, msg: unknown): Promise<Json> {
  const [p] = await api.produce(topic, msg);
  const got = await api.receive(topic, uniq('g'), {});
  const m = got.find((x: Json) => x.messageId === p.messageId);
  expect(m, `received ${p.messageId}`).toBeDefined();
  return m;
}

describe('produce one message', () => {
  it('answers 201 with messageId, queueId and queueOffset, and the consumer gets it back as sent', async () => {
    const topic = uniq('p-one');
    await api.createTopic(topic, { queues: 2 });
    const before = Date.now();
    const r = await produceRaw(topic, {
      body: 'hello', tag: 'TagA', keys: ['order-1', 'user-7'], properties: { region: 'eu', 'a b': 'c d' },
    });
    expect(r.status).toBe(201);
    expect(r.body.messages).toHaveLength(1);
    const p = r.body.messages[0];
    expect(Object.keys(p).sort()).toEqual(['messageId', 'queueId', 'queueOffset']);
    expect(typeof p.messageId).toBe('string');
    expect(p.queueOffset).toBe(0);
    expect([0, 1]).toContain(p.queueId);

    const [m] = await api.receive(topic, uniq('g'));
    expect(m).toMatchObject({
      messageId: p.messageId, topic, queueId: p.queueId, queueOffset: 0, body: 'hello', encoding: 'text',
      tag: 'TagA', keys: ['order-1', 'user-7'], properties: { region: 'eu', 'a b': 'c d' }, deliveryAttempt: 1,
    });
    expect(m).not.toHaveProperty('messageGroup');
    expect(typeof m.receiptHandle).toBe('string');
    expect(m.bornTimestamp).toBeGreaterThanOrEqual(before - 1000);
    expect(m.storeTimestamp).toBeGreaterThanOrEqual(m.bornTimestamp);
    expect(m.storeTimestamp).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('message ids are unique in the topic and offsets grow per queue', async () => {
    const topic = uniq('p-ids');
    await api.createTopic(topic, { queues: 1 });
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const [p] = await api.produce(topic, { body: `m${i}` });
      expect(p.queueOffset).toBe(i);
      ids.add(p.messageId);
    }
    expect(ids.size).toBe(5);
  });

  it('producing to an unknown topic is 404, to a bad name 400 INVALID_NAME', async () => {
    expectError(await produceRaw(uniq('nope'), { body: 'x' }), 404, 'TOPIC_NOT_FOUND');
    expectError(await produceRaw('bad.name', { body: 'x' }), 400, 'INVALID_NAME');
    expectError(await api.post(`/v1/topics/${uniq('nope')}/messages`, undefined, { raw: 'raw', contentType: 'text/plain' }), 404, 'TOPIC_NOT_FOUND');
  });
});

describe('encodings', () => {
  let topic: string;
  beforeAll(async () => { topic = uniq('p-enc'); await api.createTopic(topic, { queues: 1 }); });

  it('a string body is text by default, anything else json, and comes back as sent', async () => {
    const cases: [unknown, string][] = [
      ['plain text ✓ ünïcode', 'text'], ['', 'text'],
      [{ a: 1, nested: { b: [true, null, 'x'] } }, 'json'], [[1, 'two', { three: 3 }], 'json'],
      [42, 'json'], [0, 'json'], [3.25, 'json'], [false, 'json'], [null, 'json'],
    ];
    for (const [body, encoding] of cases) {
      const m = await roundTrip(topic, { body });
      expect(m.encoding, JSON.stringify(body)).toBe(encoding);
      expect(m.body).toEqual(body);
    }
  });

  it('encoding json with a string body keeps it a JSON string; explicit text stays text', async () => {
    const j = await roundTrip(topic, { body: '{"looks":"like json"}', encoding: 'json' });
    expect(j).toMatchObject({ body: '{"looks":"like json"}', encoding: 'json' });
    const t = await roundTrip(topic, { body: '123', encoding: 'text' });
    expect(t).toMatchObject({ body: '123', encoding: 'text' });
  });

  it('base64 bodies are binary and come back as the same base64 text', async () => {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255, 10, 13]);
    const m = await roundTrip(topic, { body: bytes.toString('base64'), encoding: 'base64' });
    expect(m).toMatchObject({ body: bytes.toString('base64'), encoding: 'base64' });
    expect(Buffer.from(m.body, 'base64')).toEqual(bytes);
    const empty = await roundTrip(topic, { body: '', encoding: 'base64' });
    expect(empty).toMatchObject({ body: '', encoding: 'base64' });
  });

  it('bad bodies and encodings are 400 and store nothing', async () => {
    const cases: [unknown, string][] = [
      [{}, 'body'], [{ tag: 'x' }, 'body'],
      [{ body: 'not base64!', encoding: 'base64' }, 'base64'], [{ body: 'abc', encoding: 'base64' }, 'base64'],
      [{ body: { a: 1 }, encoding: 'text' }, 'body'], [{ body: 12, encoding: 'base64' }, 'body'],
      [{ body: 'x', encoding: 'utf8' }, 'encoding'], [{ body: 'x', encoding: null }, 'encoding'],
    ];
    for (const [msg, field] of cases) {
      const text = await rejected(topic, msg, 400, 'BAD_REQUEST');
      expect(text, JSON.stringify(msg)).toContain(field);
    }
  });
});

describe('attributes: tag, keys, properties', () => {
  let topic: string;
  beforeAll(async () => { topic = uniq('p-attr'); await api.createTopic(topic, { queues: 1 }); });

  it('accepts the limits exactly', async () => {
    const properties = Object.fromEntries(Array.from({ length: 128 }, (_, i) => [`k${i}`, 'v']));
    const keys = Array.from({ length: 32 }, (_, i) => `key-${i}`.padEnd(128, 'x'));
    const m = await roundTrip(topic, { body: 'x', tag: 't'.repeat(128), keys, properties, messageGroup: 'g'.repeat(64), dedupId: 'd'.repeat(128) });
    expect(m.tag).toBe('t'.repeat(128));
    expect(m.keys).toEqual(keys);
    expect(Object.keys(m.properties)).toHaveLength(128);
    expect(m.messageGroup).toBe('g'.repeat(64));
  });

  it('over the limits or of the wrong type is 400 naming the field, and stores nothing', async () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    const cases: [Record<string, unknown>, string][] = [
      [{ tag: 't'.repeat(129) }, 'tag'], [{ tag: 'a|b' }, 'tag'], [{ tag: 5 }, 'tag'], [{ tag: ['a'] }, 'tag'],
      [{ keys: Array.from({ length: 33 }, (_, i) => `k${i}`) }, 'keys'], [{ keys: ['k'.repeat(129)] }, 'keys'],
      [{ keys: 'k1' }, 'keys'], [{ keys: [1] }, 'keys'], [{ keys: [''] }, 'keys'],
      [{ properties: many(129) }, 'properties'], [{ properties: { a: 1 } }, 'properties'],
      [{ properties: ['a'] }, 'properties'], [{ properties: { big: 'x'.repeat(16 * 1024) } }, 'properties'],
      [{ messageGroup: 'g'.repeat(65) }, 'messageGroup'], [{ messageGroup: '' }, 'messageGroup'], [{ messageGroup: 7 }, 'messageGroup'],
      [{ dedupId: 'd'.repeat(129) }, 'dedupId'], [{ dedupId: 1 }, 'dedupId'],
      [{ delayMs: -1 }, 'delayMs'], [{ delayMs: 366 * 24 * 3_600_000 }, 'delayMs'], [{ delayMs: 'soon' }, 'delayMs'],
      [{ deliverAt: 1.5 }, 'deliverAt'], [{ deliverAt: Date.now() + 367 * 24 * 3_600_000 }, 'deliverAt'],
      [{ deliverAt: Date.now() + 5000, delayMs: 5000 }, 'delayMs'],
      [{ colour: 'red' }, 'colour'], [{ Tag: 'x' }, 'Tag'],
    ];
    for (const [extra, field] of cases) {
      const text = await rejected(topic, { body: 'x', ...extra }, 400, 'BAD_REQUEST');
      expect(text, JSON.stringify(extra).slice(0, 100)).toContain(field);
    }
  });
});

describe('batches', () => {
  it('answers in request order, every message stored', async () => {
    const topic = uniq('p-batch');
    await api.createTopic(topic, { queues: 4 });
    const messages = Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? { body: `m${i}`, messageGroup: `grp${i % 2}` } : { body: `m${i}` }));
    const out = await api.produce(topic, { messages });
    expect(out).toHaveLength(10);
    const got = await api.drain(topic, uniq('g')); // FIFO groups release one message per ack
    const byId = new Map(got.map((m: Json) => [m.messageId, m]));
    out.forEach((p: Json, i: number) => {
      const m = byId.get(p.messageId);
      expect(m, `message ${i}`).toBeDefined();
      expect(m.body).toBe(`m${i}`);
      expect(m.queueId).toBe(p.queueId);
      expect(m.queueOffset).toBe(p.queueOffset);
    });
    expect(await api.stored(topic)).toBe(10);
  });

  it('takes 1000 messages; 1001 is 413 BATCH_TOO_LARGE and stores nothing', async () => {
    const topic = uniq('p-1000');
    await api.createTopic(topic, { queues: 2 });
    const ok = await api.produce(topic, { messages: Array.from({ length: 1000 }, (_, i) => ({ body: i })) });
    expect(ok).toHaveLength(1000);
    expect(new Set(ok.map((m: Json) => m.messageId)).size).toBe(1000);
    expect(await api.stored(topic)).toBe(1000);
    await rejected(topic, { messages: Array.from({ length: 1001 }, (_, i) => ({ body: i })) }, 413, 'BATCH_TOO_LARGE');
  });

  it('over 8 MiB of messages in all is 413 BATCH_TOO_LARGE and stores nothing', async () => {
    const topic = uniq('p-8mib');
    await api.createTopic(topic, { queues: 1 });
    const body = 'x'.repeat(1_000_000);
    // 8 of them is 8,000,000 bytes: under 8 MiB (8,388,608)
    expect(await api.produce(topic, { messages: Array.from({ length: 8 }, () => ({ body })) })).toHaveLength(8);
    await rejected(topic, { messages: Array.from({ length: 9 }, () => ({ body })) }, 413, 'BATCH_TOO_LARGE');
  });

  it('a request body far over the limit is refused with 413 before it is read', async () => {
    const topic = uniq('p-huge');
    await api.createTopic(topic, { queues: 1, maxMessageBytes: 4_194_304 });
    const raw = 'y'.repeat(13 * 1024 * 1024);
    const before = await api.stored(topic);
    const r = await api.post(`/v1/topics/${topic}/messages`, undefined, { raw, contentType: 'application/octet-stream' });
    expect(r.status, r.text).toBe(413);
    expect(['BATCH_TOO_LARGE', 'MESSAGE_TOO_LARGE']).toContain(r.body.error.code);
    expect(await api.stored(topic)).toBe(before);
  });

  it('one bad message rejects the whole batch, naming it', async () => {
    const topic = uniq('p-badbatch');
    await api.createTopic(topic, { queues: 4, maxMessageBytes: 100 });
    const good = { body: 'fine' };
    expect(await rejected(topic, { messages: [good, good, { body: 'x', tag: 'a|b' }] }, 400, 'BAD_REQUEST')).toMatch(/messages\[2\]\.tag/);
    expect(await rejected(topic, { messages: [good, { body: 'z'.repeat(101) }, good] }, 413, 'MESSAGE_TOO_LARGE')).toMatch(/messages\[1\]/);
    expect(await rejected(topic, { messages: [good, { body: 'x', encoding: 'base64' }] }, 400, 'BAD_REQUEST')).toMatch(/messages\[1\]/);
    await rejected(topic, { messages: [good, { body: 'x', unknown: 1 }] }, 400, 'BAD_REQUEST');
    await rejected(topic, { messages: [] }, 400, 'BAD_REQUEST');
    await rejected(topic, { messages: 'x' }, 400, 'BAD_REQUEST');
    await rejected(topic, { messages: [good], extra: true }, 400, 'BAD_REQUEST');
    await rejected(topic, [good], 400, 'BAD_REQUEST');
  });

  it('malformed JSON is 400 and stores nothing', async () => {
    const topic = uniq('p-badjson');
    await api.createTopic(topic, { queues: 1 });
    for (const raw of ['{', '{"body": "x",}', '{"messages": [{"body": 1}', "{'body': 'x'}"]) {
      expect(await rejected(topic, undefined, 400, 'BAD_REQUEST', { raw })).toMatch(/JSON/);
    }
    // JSON media types with parameters or suffixes are JSON too
    await rejected(topic, undefined, 400, 'BAD_REQUEST', { raw: '{', contentType: 'application/json; charset=utf-8' });
    await rejected(topic, undefined, 400, 'BAD_REQUEST', { raw: '{', contentType: 'application/vnd.edgemq+json' });
  });
});

describe('size limit per message (maxMessageBytes)', () => {
  let topic: string;
  beforeAll(async () => { topic = uniq('p-size'); await api.createTopic(topic, { queues: 1, maxMessageBytes: 100 }); });

  it('counts body, tag, keys and properties; exactly the limit is fine', async () => {
    await api.produce(topic, { body: 'a'.repeat(100) });
    await api.produce(topic, { body: 'a'.repeat(90), tag: 't'.repeat(5), keys: ['k1', 'k2', 'k'] });
    await api.produce(topic, { body: 'ü'.repeat(50) }); // 100 UTF-8 bytes
    await api.produce(topic, { body: Buffer.alloc(100, 7).toString('base64'), encoding: 'base64' }); // 136 chars, 100 bytes
    await rejected(topic, { body: 'a'.repeat(101) }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, { body: 'ü'.repeat(51) }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, { body: 'a'.repeat(90), tag: 't'.repeat(11) }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, { body: 'a'.repeat(90), keys: ['k'.repeat(11)] }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, { body: 'a'.repeat(90), properties: { key: 'v'.repeat(8) } }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, { body: Buffer.alloc(101).toString('base64'), encoding: 'base64' }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, { body: { text: 'a'.repeat(95) } }, 413, 'MESSAGE_TOO_LARGE');
    await rejected(topic, undefined, 413, 'MESSAGE_TOO_LARGE', { raw: Buffer.alloc(101), contentType: 'application/octet-stream' });
  });

  it('the default limit is 1 MiB', async () => {
    const t = uniq('p-1mib');
    await api.createTopic(t, { queues: 1 });
    await api.produce(t, { body: 'x'.repeat(1_048_576) });
    await rejected(t, { body: 'x'.repeat(1_048_577) }, 413, 'MESSAGE_TOO_LARGE');
  });
});

describe('raw bodies with X- headers', () => {
  let topic: string;
  beforeAll(async () => { topic = uniq('p-raw'); await api.createTopic(topic, { queues: 4 }); });

  async function raw(body: string | Uint8Array, contentType: string | null, headers: Record<string, string> = {}) {
    const r = await api.post(`/v1/topics/${topic}/messages`, undefined, { raw: body, contentType, headers });
    expect(r.status, r.text).toBe(201);
    expect(r.body.messages).toHaveLength(1);
    return r.body.messages[0];
  }
  async function fetchBack(p: Json): Promise<Json> {
    const got = await api.receive(topic, uniq('g'));
    const m = got.find((x: Json) => x.messageId === p.messageId);
    expect(m).toBeDefined();
    return m;
  }

  it('a text/* body is one text message with attributes from headers', async () => {
    const p = await raw('hello raw ✓', 'text/plain; charset=utf-8', {
      'X-Tag': 'RawTag', 'X-Keys': 'k1, k2,k3', 'X-Prop-Region': 'eu-west', 'X-Prop-tier': 'gold', 'X-Message-Group': 'rg',
    });
    const m = await fetchBack(p);
    expect(m).toMatchObject({ body: 'hello raw ✓', encoding: 'text', tag: 'RawTag', keys: ['k1', 'k2', 'k3'], messageGroup: 'rg' });
    // HTTP header names are case-insensitive: property names from X-Prop- arrive lower-cased
    expect(m.properties).toEqual({ region: 'eu-west', tier: 'gold' });
  });

  it('a binary body is base64, byte for byte', async () => {
    const bytes = new Uint8Array([0, 255, 1, 254, 127, 128, 10]);
    for (const ct of ['application/octet-stream', null, 'image/png']) {
      const m = await fetchBack(await raw(bytes, ct));
      expect(m.encoding).toBe('base64');
      expect(new Uint8Array(Buffer.from(m.body, 'base64'))).toEqual(bytes);
    }
    // text/* that is not UTF-8 is kept as bytes too
    const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9]);
    const m = await fetchBack(await raw(latin1, 'text/plain'));
    expect(m.encoding).toBe('base64');
    expect(new Uint8Array(Buffer.from(m.body, 'base64'))).toEqual(latin1);
  });

  it('an empty raw body is an empty message', async () => {
    const m = await fetchBack(await raw('', 'text/plain'));
    expect(m).toMatchObject({ body: '', encoding: 'text' });
  });

  it('X-Delay-Ms schedules it; bad header values are 400 and store nothing', async () => {
    const p = await raw('later', 'text/plain', { 'X-Delay-Ms': '60000' });
    expect(p.queueOffset).toBeNull();
    for (const [h, v] of [['X-Delay-Ms', 'soon'], ['X-Delay-Ms', '-5'], ['X-Deliver-At', '1e12'], ['X-Tag', 'a|b'], ['X-Keys', 'k'.repeat(129)]]) {
      const text = await rejected(topic, undefined, 400, 'BAD_REQUEST', { raw: 'x', contentType: 'text/plain', headers: { [h]: v } });
      expect(text.toLowerCase(), `${h}: ${v}`).toMatch(new RegExp(h === 'X-Keys' ? 'keys' : h === 'X-Tag' ? 'tag' : h.toLowerCase()));
    }
  });

  it('X-Dedup-Id makes the raw produce idempotent', async () => {
    const id = uniq('raw-dedup');
    const a = await raw('once', 'text/plain', { 'X-Dedup-Id': id });
    const before = await api.stored(topic);
    const b = await raw('once', 'text/plain', { 'X-Dedup-Id': id });
    expect(b).toEqual({ ...a, duplicate: true });
    expect(await api.stored(topic)).toBe(before);
  });
});

describe('messageGroup routing', () => {
  it('all messages of one group land in one queue, in send order', async () => {
    const topic = uniq('p-fifo');
    await api.createTopic(topic, { queues: 8, type: 'FIFO' });
    const groups = Array.from({ length: 6 }, (_, i) => `order-${i}`);
    const queueOf = new Map<string, Set<number>>();
    const sent: Json[] = [];
    for (let round = 0; round < 4; round++) {
      for (const g of groups) {
        const [p] = await api.produce(topic, { body: `${g}#${round}`, messageGroup: g });
        sent.push({ ...p, g, round });
        (queueOf.get(g) ?? queueOf.set(g, new Set()).get(g)!).add(p.queueId);
      }
    }
    // and in a batch, mixed with other groups
    const batch = await api.produce(topic, { messages: groups.map((g) => ({ body: `${g}#4`, messageGroup: g })) });
    batch.forEach((p: Json, i: number) => queueOf.get(groups[i])!.add(p.queueId));
    for (const [g, qs] of queueOf) expect(qs.size, `queues of ${g}`).toBe(1);
    const distinct = new Set([...queueOf.values()].map((s) => [...s][0]));
    expect(distinct.size, 'six groups over eight queues use more than one').toBeGreaterThan(1);
    // within a group, offsets grow in send order
    for (const g of groups) {
      const offs = sent.filter((s) => s.g === g).map((s) => s.queueOffset);
      expect([...offs].sort((a, b) => a - b)).toEqual(offs);
    }
  });
});

describe('dedupId', () => {
  it('a repeat answers the first result with duplicate: true and stores nothing new', async () => {
    const topic = uniq('p-dedup');
    await api.createTopic(topic, { queues: 4 });
    const [first] = await api.produce(topic, { body: 'pay 10', dedupId: 'tx-1' });
    expect(first).not.toHaveProperty('duplicate');
    const stored = await api.stored(topic);
    for (let i = 0; i < 3; i++) {
      const [again] = await api.produce(topic, { body: 'pay 10 (retry)', dedupId: 'tx-1' });
      expect(again).toEqual({ ...first, duplicate: true });
    }
    expect(await api.stored(topic)).toBe(stored);
    // another id is another message
    const [other] = await api.produce(topic, { body: 'pay 20', dedupId: 'tx-2' });
    expect(other.messageId).not.toBe(first.messageId);
    expect(await api.stored(topic)).toBe(stored + 1);
    // inside one batch, and against an earlier send
    const batch = await api.produce(topic, { messages: [
      { body: 'a', dedupId: 'tx-3' }, { body: 'a again', dedupId: 'tx-3' }, { body: 'old', dedupId: 'tx-1' }, { body: 'plain' },
    ] });
    expect(batch[0]).not.toHaveProperty('duplicate');
    expect(batch[1]).toEqual({ ...batch[0], duplicate: true });
    expect(batch[2]).toEqual({ ...first, duplicate: true });
    expect(batch[3]).not.toHaveProperty('duplicate');
    expect(await api.stored(topic)).toBe(stored + 3);
    // a consumer sees each message once
    const g = uniq('g');
    const got = await api.receiveN(topic, g, 4);
    expect(got.map((m: Json) => m.body).sort()).toEqual(['a', 'pay 10', 'pay 20', 'plain']);
    expect(await api.receive(topic, g)).toEqual([]);
  });

  it('with dedupWindowMs 0 there is no dedup', async () => {
    const topic = uniq('p-nodedup');
    await api.createTopic(topic, { queues: 1, dedupWindowMs: 0 });
    const [a] = await api.produce(topic, { body: 'x', dedupId: 'same' });
    const [b] = await api.produce(topic, { body: 'x', dedupId: 'same' });
    expect(b.messageId).not.toBe(a.messageId);
    expect(b).not.toHaveProperty('duplicate');
    expect(await api.stored(topic)).toBe(2);
  });

  // a dedupId hashes over the queue count the topic was created with, so its record stays in the
  // same queue's broker after PATCH grows the queues
  it('a repeat after the topic grew its queues is still a duplicate', async () => {
    const topic = uniq('p-growdedup');
    await api.createTopic(topic, { queues: 1 });
    const first = [];
    for (let i = 0; i < 4; i++) first.push((await api.produce(topic, { body: 'x', dedupId: `grow-${i}` }))[0]);
    expect((await api.patch(`/v1/topics/${topic}`, { queues: 8 })).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      expect((await api.produce(topic, { body: 'x', dedupId: `grow-${i}` }))[0]).toEqual({ ...first[i], duplicate: true });
    }
    expect(await api.stored(topic)).toBe(4);
  });

  it('the dedup window runs out', async () => {
    const topic = uniq('p-window');
    await api.createTopic(topic, { queues: 1, dedupWindowMs: 1000 });
    const [a] = await api.produce(topic, { body: 'x', dedupId: 'w' });
    expect((await api.produce(topic, { body: 'x', dedupId: 'w' }))[0].duplicate).toBe(true);
    await new Promise((r) => setTimeout(r, 1300));
    const [c] = await api.produce(topic, { body: 'x', dedupId: 'w' });
    expect(c.messageId).not.toBe(a.messageId);
    expect(c).not.toHaveProperty('duplicate');
  });
});

describe('topic type checks', () => {
  const plain = { body: 'p' };
  const fifo = { body: 'f', messageGroup: 'g1' };
  const delayed = { body: 'd', delayMs: 60_000 };
  const at = () => ({ body: 'a', deliverAt: Date.now() + 60_000 });

  it('NORMAL takes plain messages only', async () => {
    const t = uniq('ty-normal');
    await api.createTopic(t, { type: 'NORMAL', queues: 2 });
    await api.produce(t, plain);
    for (const m of [fifo, delayed, at()]) expect(await rejected(t, m, 400, 'MESSAGE_TYPE_MISMATCH')).toMatch(/NORMAL/);
    await rejected(t, { messages: [plain, plain, fifo] }, 400, 'MESSAGE_TYPE_MISMATCH');
    await rejected(t, undefined, 400, 'MESSAGE_TYPE_MISMATCH', { raw: 'x', contentType: 'text/plain', headers: { 'X-Message-Group': 'g' } });
    expect(await api.stored(t)).toBe(1);
  });

  it('FIFO needs a messageGroup', async () => {
    const t = uniq('ty-fifo');
    await api.createTopic(t, { type: 'FIFO', queues: 2 });
    await api.produce(t, fifo);
    for (const m of [plain, delayed, at(), { ...fifo, delayMs: 1000 }]) await rejected(t, m, 400, 'MESSAGE_TYPE_MISMATCH');
    await rejected(t, { messages: [fifo, plain] }, 400, 'MESSAGE_TYPE_MISMATCH');
    await rejected(t, undefined, 400, 'MESSAGE_TYPE_MISMATCH', { raw: 'x', contentType: 'text/plain' });
    expect(await api.stored(t)).toBe(1);
  });

  it('DELAY needs deliverAt or delayMs', async () => {
    const t = uniq('ty-delay');
    await api.createTopic(t, { type: 'DELAY', queues: 1 });
    const [d] = await api.produce(t, delayed);
    expect(d.queueOffset).toBeNull();
    const [a] = await api.produce(t, at());
    expect(a.queueOffset).toBeNull();
    for (const m of [plain, fifo]) await rejected(t, m, 400, 'MESSAGE_TYPE_MISMATCH');
    await rejected(t, { messages: [delayed, plain] }, 400, 'MESSAGE_TYPE_MISMATCH');
    // nothing scheduled is visible in the log yet, nor delivered
    expect(await api.stored(t)).toBe(0);
    expect(await api.receive(t, uniq('g'))).toEqual([]);
  });

  it('TRANSACTION takes no plain sends', async () => {
    const t = uniq('ty-tx');
    await api.createTopic(t, { type: 'TRANSACTION', queues: 1 });
    for (const m of [plain, fifo, delayed]) expect(await rejected(t, m, 400, 'MESSAGE_TYPE_MISMATCH')).toMatch(/TRANSACTION/);
    await rejected(t, { messages: [plain] }, 400, 'MESSAGE_TYPE_MISMATCH');
    await rejected(t, undefined, 400, 'MESSAGE_TYPE_MISMATCH', { raw: 'x', contentType: 'text/plain' });
  });

  it('MIXED takes every kind, but not FIFO and scheduled at once', async () => {
    const t = uniq('ty-mixed');
    await api.createTopic(t, { queues: 2 });
    await api.produce(t, plain);
    await api.produce(t, fifo);
    await api.produce(t, delayed);
    await rejected(t, { ...fifo, delayMs: 5000 }, 400, 'MESSAGE_TYPE_MISMATCH');
    expect(await api.stored(t)).toBe(2);
  });
});
