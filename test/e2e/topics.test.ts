/** Conventions (health, OpenAPI, error shape, names) and the topic resource, against wrangler dev. */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, enc, expectError, uniq } from './client';
import { useServer } from './server';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });

describe('conventions', () => {
  it('GET /v1/health answers 200 without storage', async () => {
    const r = await api.get('/v1/health');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(r.body.status).toBe('ok');
    expect(typeof r.body.time).toBe('number');
    expect(Math.abs(r.body.time - Date.now())).toBeLessThan(60_000);
  });

  it('GET /v1/openapi.json is an OpenAPI 3.1 document listing every core endpoint', async () => {
    const r = await api.get('/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\.1/);
    const paths = r.body.paths as Record<string, Record<string, unknown>>;
    const want: [string, string[]][] = [
      ['/v1/health', ['get']],
      ['/v1/topics', ['get', 'post']],
      ['/v1/topics/{topic}', ['get', 'patch', 'delete']],
      ['/v1/topics/{topic}/messages', ['post']],
      ['/v1/groups', ['get']],
      ['/v1/groups/{group}', ['get', 'put', 'delete']],
      ['/v1/groups/{group}/reset-offset', ['post']],
      ['/v1/topics/{topic}/subscriptions/{group}/receive', ['post']],
      ['/v1/topics/{topic}/subscriptions/{group}/ack', ['post']],
      ['/v1/topics/{topic}/subscriptions/{group}/nack', ['post']],
      ['/v1/topics/{topic}/subscriptions/{group}/change-invisibility', ['post']],
    ];
    for (const [p, methods] of want) {
      expect(paths, `path ${p}`).toHaveProperty([p]);
      for (const m of methods) expect(paths[p], `${m} ${p}`).toHaveProperty([m]);
    }
    // request bodies are described, and the produce endpoint documents its raw-body form
    const produce = paths['/v1/topics/{topic}/messages'].post as { requestBody: { content: Record<string, unknown> } };
    expect(Object.keys(produce.requestBody.content)).toEqual(expect.arrayContaining(['application/json', 'application/octet-stream']));
  });

  it('answers and errors are application/json; charset=utf-8', async () => {
    const name = uniq('ct');
    const answers = [
      await api.post('/v1/topics', { name }), await api.get('/v1/topics'), await api.get(`/v1/topics/${name}`),
      await api.get('/v1/openapi.json'), await api.get(`/v1/topics/${uniq('nope')}`), await api.get('/v1/nope'),
      await api.post('/v1/topics', undefined, { raw: '{' }),
    ];
    for (const r of answers) expect(r.headers.get('content-type'), r.text.slice(0, 80)).toBe('application/json; charset=utf-8');
  });

  it('an unknown route is a 404 in the error shape', async () => {
    expectError(await api.get('/v1/nope'), 404, 'NOT_FOUND');
    expectError(await api.post('/v1/topics/x/unknown', {}), 404, 'NOT_FOUND');
  });

  it('malformed JSON is 400 BAD_REQUEST and creates nothing', async () => {
    const name = uniq('badjson');
    for (const raw of ['{', `{"name": "${name}",}`, 'not json', '[1, 2', `{"name": "${name}" "queues": 2}`]) {
      const msg = expectError(await api.post('/v1/topics', undefined, { raw }), 400, 'BAD_REQUEST');
      expect(msg).toMatch(/JSON/);
    }
    expectError(await api.get(`/v1/topics/${name}`), 404, 'TOPIC_NOT_FOUND');
  });

  it('a JSON body that is not an object is 400', async () => {
    for (const raw of ['[]', '"name"', '42', 'null', 'true']) {
      expectError(await api.post('/v1/topics', undefined, { raw }), 400, 'BAD_REQUEST');
    }
  });

  it('deeply nested JSON is refused, not a crash', async () => {
    const raw = '['.repeat(5000) + ']'.repeat(5000);
    expectError(await api.post('/v1/topics', undefined, { raw }), 400, 'BAD_REQUEST');
  });
});

describe('topics: create', () => {
  it('creates with the documented defaults', async () => {
    const name = uniq('t-defaults');
    const before = Date.now();
    const r = await api.post('/v1/topics', { name });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      name, queues: 4, type: 'MIXED', retentionHours: 72, maxMessageBytes: 1_048_576, dedupWindowMs: 600_000,
    });
    expect(r.body.createdAt).toBeGreaterThanOrEqual(before - 5000);
    expect(r.body).not.toHaveProperty('incarnation');
  });

  it('creates with every field given', async () => {
    const name = uniq('t-full');
    const cfg = { name, queues: 64, type: 'FIFO', retentionHours: 1, maxMessageBytes: 4_194_304, dedupWindowMs: 0 };
    const t = await api.createTopic(name, cfg);
    expect(t).toMatchObject(cfg);
    const d = await api.topic(name);
    expect(d).toMatchObject(cfg);
    expect(d.queueStatus).toHaveLength(64);
  });

  it('accepts every topic type', async () => {
    for (const type of ['NORMAL', 'FIFO', 'DELAY', 'TRANSACTION', 'MIXED']) {
      const t = await api.createTopic(uniq(`t-${type.toLowerCase()}`), { type, queues: 1 });
      expect(t.type).toBe(type);
    }
  });

  it('a second create of the same name is 409 TOPIC_EXISTS and changes nothing', async () => {
    const name = uniq('t-dup');
    await api.createTopic(name, { queues: 2 });
    expectError(await api.post('/v1/topics', { name, queues: 8 }), 409, 'TOPIC_EXISTS');
    expect((await api.topic(name)).queues).toBe(2);
  });

  it('names are case-sensitive', async () => {
    const base = uniq('CaseTopic');
    await api.createTopic(base, { queues: 1 });
    await api.createTopic(base.toLowerCase(), { queues: 2 });
    expect((await api.topic(base)).queues).toBe(1);
    expect((await api.topic(base.toLowerCase())).queues).toBe(2);
    expectError(await api.get(`/v1/topics/${base.toUpperCase()}`), 404, 'TOPIC_NOT_FOUND');
  });

  it('bad names are 400 INVALID_NAME', async () => {
    const bad = ['', 'has space', 'dot.ted', 'slash/x', 'ü', 'a'.repeat(128), '%DLQ%g', '%RETRY%x', 'semi;colon', 'star*'];
    for (const name of bad) {
      expectError(await api.post('/v1/topics', { name }), 400, 'INVALID_NAME');
    }
    // the longest legal name and every legal character class
    const longest = 'A'.repeat(100) + uniq('z').replace(/[^A-Za-z0-9_-]/g, '').slice(0, 27);
    await api.createTopic(longest.padEnd(127, '_'));
    await api.createTopic(uniq('Az09_-'));
  });

  it('a missing or non-string name is 400 BAD_REQUEST naming the field', async () => {
    for (const body of [{}, { name: 42 }, { name: null }, { name: ['x'] }]) {
      const msg = expectError(await api.post('/v1/topics', body), 400, 'BAD_REQUEST');
      expect(msg).toMatch(/name/);
    }
  });

  it('out-of-range numbers, wrong types, unknown enums and unknown fields are 400 naming the field; nothing is created', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ queues: 0 }, 'queues'], [{ queues: 65 }, 'queues'], [{ queues: 2.5 }, 'queues'], [{ queues: '4' }, 'queues'],
      [{ type: 'PRIORITY' }, 'type'], [{ type: 'normal' }, 'type'], [{ type: 1 }, 'type'],
      [{ retentionHours: 0 }, 'retentionHours'], [{ retentionHours: -1 }, 'retentionHours'],
      [{ maxMessageBytes: 4_194_305 }, 'maxMessageBytes'], [{ maxMessageBytes: 0 }, 'maxMessageBytes'],
      [{ dedupWindowMs: -1 }, 'dedupWindowMs'], [{ dedupWindowMs: 'long' }, 'dedupWindowMs'],
      [{ colour: 'red' }, 'colour'], [{ queue: 4 }, 'queue'],
    ];
    for (const [extra, field] of cases) {
      const name = uniq('t-bad');
      const msg = expectError(await api.post('/v1/topics', { name, ...extra }), 400, 'BAD_REQUEST');
      expect(msg, JSON.stringify(extra)).toContain(field);
      expectError(await api.get(`/v1/topics/${name}`), 404, 'TOPIC_NOT_FOUND');
    }
  });
});

describe('topics: list and get', () => {
  it('lists topics with their message counts and bytes', async () => {
    const a = uniq('t-list-a');
    const b = uniq('t-list-b');
    await api.createTopic(a, { queues: 2, type: 'NORMAL' });
    await api.createTopic(b);
    await api.produce(a, { messages: [{ body: 'hello' }, { body: 'world!' }] });
    const r = await api.get('/v1/topics');
    expect(r.status).toBe(200);
    const byName = new Map(r.body.topics.map((t: { name: string }) => [t.name, t]));
    expect(byName.get(a)).toEqual({ name: a, queues: 2, type: 'NORMAL', messages: 2, bytes: 11 });
    expect(byName.get(b)).toEqual({ name: b, queues: 4, type: 'MIXED', messages: 0, bytes: 0 });
  });

  it('gets the config and the status of each queue', async () => {
    const name = uniq('t-get');
    await api.createTopic(name, { queues: 3 });
    const empty = await api.topic(name);
    expect(empty.queueStatus.map((q: { queueId: number }) => q.queueId)).toEqual([0, 1, 2]);
    for (const q of empty.queueStatus) expect(q).toMatchObject({ minOffset: 0, maxOffset: 0, lastStoreTimestamp: null });
    const before = Date.now();
    const [m] = await api.produce(name, { body: 'x' });
    const t = await api.topic(name);
    const q = t.queueStatus[m.queueId];
    expect(q).toMatchObject({ queueId: m.queueId, minOffset: 0, maxOffset: 1 });
    expect(q.lastStoreTimestamp).toBeGreaterThanOrEqual(before - 1000);
    expect(q.lastStoreTimestamp).toBeLessThanOrEqual(Date.now() + 1000);
    expect(t.messages).toBe(1);
    expect(t.bytes).toBe(1);
  });

  it('an unknown topic is 404 TOPIC_NOT_FOUND, a bad name in the path 400 INVALID_NAME', async () => {
    expectError(await api.get(`/v1/topics/${uniq('nope')}`), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.get('/v1/topics/bad.name'), 400, 'INVALID_NAME');
    expectError(await api.get(`/v1/topics/${'a'.repeat(128)}`), 400, 'INVALID_NAME');
    expectError(await api.get(`/v1/topics/${enc('sp ace')}`), 400, 'INVALID_NAME');
    // a system name that does not exist (yet) is a 404, not a bad name
    expectError(await api.get(`/v1/topics/${enc(`%DLQ%${uniq('g')}`)}`), 404, 'TOPIC_NOT_FOUND');
  });
});

describe('topics: patch', () => {
  it('changes retention, size limit and dedup window', async () => {
    const name = uniq('t-patch');
    await api.createTopic(name, { queues: 2 });
    const r = await api.patch(`/v1/topics/${name}`, { retentionHours: 5, maxMessageBytes: 10, dedupWindowMs: 1000 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name, queues: 2, retentionHours: 5, maxMessageBytes: 10, dedupWindowMs: 1000, type: 'MIXED' });
    expect(await api.topic(name)).toMatchObject({ retentionHours: 5, maxMessageBytes: 10, dedupWindowMs: 1000 });
    // the new size limit is enforced at once
    expectError(await api.post(`/v1/topics/${name}/messages`, { body: 'eleven byte' }), 413, 'MESSAGE_TOO_LARGE');
    await api.produce(name, { body: 'ten bytes!' });
  });

  it('grows queues: the new queues appear and take messages', async () => {
    const name = uniq('t-grow');
    await api.createTopic(name, { queues: 1 });
    await api.produce(name, { body: 'before' });
    const r = await api.patch(`/v1/topics/${name}`, { queues: 4 });
    expect(r.status).toBe(200);
    expect(r.body.queues).toBe(4);
    const t = await api.topic(name);
    expect(t.queueStatus).toHaveLength(4);
    expect(t.queueStatus[0].maxOffset).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 8; i++) seen.add((await api.produce(name, { body: `m${i}` }))[0].queueId);
    expect(seen.size).toBeGreaterThan(1);
    for (const q of seen) expect(q).toBeLessThan(4);
    expect(await api.stored(name)).toBe(9);
  });

  it('refuses to shrink queues, and bad patches, changing nothing', async () => {
    const name = uniq('t-shrink');
    await api.createTopic(name, { queues: 4, retentionHours: 7 });
    const shrink = expectError(await api.patch(`/v1/topics/${name}`, { queues: 2, retentionHours: 9 }), 400, 'BAD_REQUEST');
    expect(shrink).toMatch(/queues/);
    const cases: [Record<string, unknown>, string][] = [
      [{ queues: 65 }, 'queues'], [{ queues: 0 }, 'queues'], [{ retentionHours: 'x' }, 'retentionHours'],
      [{ maxMessageBytes: 5_000_000 }, 'maxMessageBytes'], [{ type: 'FIFO' }, 'type'], [{ name: 'other' }, 'name'],
      [{ retentionHours: 9, bogus: 1 }, 'bogus'],
    ];
    for (const [body, field] of cases) {
      const msg = expectError(await api.patch(`/v1/topics/${name}`, body), 400, 'BAD_REQUEST');
      expect(msg, JSON.stringify(body)).toContain(field);
    }
    expectError(await api.patch(`/v1/topics/${name}`, {}), 400, 'BAD_REQUEST');
    expectError(await api.patch(`/v1/topics/${name}`, undefined, { raw: '{"queues": 8' }), 400, 'BAD_REQUEST');
    expect(await api.topic(name)).toMatchObject({ queues: 4, retentionHours: 7, type: 'MIXED' });
    expect((await api.topic(name)).queueStatus).toHaveLength(4);
  });

  it('patching an unknown topic is 404', async () => {
    expectError(await api.patch(`/v1/topics/${uniq('nope')}`, { retentionHours: 2 }), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.patch('/v1/topics/bad.name', { retentionHours: 2 }), 400, 'INVALID_NAME');
  });
});

describe('topics: delete', () => {
  it('deletes a topic and its messages; recreating the name starts empty', async () => {
    const name = uniq('t-del');
    const group = uniq('g-del');
    await api.createTopic(name, { queues: 2 });
    await api.produce(name, { messages: [{ body: 'a' }, { body: 'b' }, { body: 'c' }] });
    const got = await api.receive(name, group, { maxMessages: 1 });
    expect(got).toHaveLength(1);

    expect((await api.group(group)).subscriptions).toEqual([{ topic: name, filter: null }]);
    const r = await api.del(`/v1/topics/${name}`);
    expect(r.status).toBe(204);
    expect(r.text).toBe('');
    // the group no longer subscribes to it, nor counts its lag
    const g = await api.group(group);
    expect(g.subscriptions).toEqual([]);
    expect(g.queues).toEqual([]);
    expect(g.lag).toBe(0);
    expectError(await api.get(`/v1/topics/${name}`), 404, 'TOPIC_NOT_FOUND');
    expect((await api.get('/v1/topics')).body.topics.map((t: { name: string }) => t.name)).not.toContain(name);
    expectError(await api.post(`/v1/topics/${name}/messages`, { body: 'late' }), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.post(`/v1/topics/${name}/subscriptions/${group}/receive`, {}), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.post(`/v1/topics/${name}/subscriptions/${group}/ack`, { receiptHandles: [got[0].receiptHandle] }), 404, 'TOPIC_NOT_FOUND');
    expectError(await api.del(`/v1/topics/${name}`), 404, 'TOPIC_NOT_FOUND');

    const again = await api.createTopic(name, { queues: 2 });
    expect(again.queues).toBe(2);
    const t = await api.topic(name);
    expect(t.messages).toBe(0);
    for (const q of t.queueStatus) expect(q).toMatchObject({ minOffset: 0, maxOffset: 0, lastStoreTimestamp: null });
    expect(await api.receive(name, group)).toEqual([]);
    // the old handle means nothing to the new topic
    expect(await api.ack(name, group, [got[0].receiptHandle])).toEqual(['INVALID']);
    // and the new topic works
    const [m] = await api.produce(name, { body: 'fresh' });
    expect(m.queueOffset).toBe(0);
    const fresh = await api.receive(name, group);
    expect(fresh.map((x: { body: string }) => x.body)).toEqual(['fresh']);
    expect(fresh[0].messageId).toBe(m.messageId);
    expect(fresh[0].messageId).not.toBe(got[0].messageId);
  });

  it('deleting with a bad name is 400 INVALID_NAME', async () => {
    expectError(await api.del('/v1/topics/bad.name'), 400, 'INVALID_NAME');
  });
});
