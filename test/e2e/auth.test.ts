/** Auth: closed by default, the admin token, and ALLOW_ANONYMOUS for local development only. */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Api, expectError, uniq } from './client';
import { DevServer } from './server';

const TOKEN = 'e2e-admin-Token_0123456789';

/** One request to every kind of endpoint of the core API (and some that do not exist). */
function everyPath(topic: string, group: string): [string, string, unknown][] {
  return [
    ['GET', '/v1/health', undefined],
    ['GET', '/v1/openapi.json', undefined],
    ['GET', '/v1/topics', undefined],
    ['POST', '/v1/topics', { name: topic }],
    ['GET', `/v1/topics/${topic}`, undefined],
    ['PATCH', `/v1/topics/${topic}`, { queues: 8 }],
    ['DELETE', `/v1/topics/${topic}`, undefined],
    ['POST', `/v1/topics/${topic}/messages`, { body: 'x' }],
    ['GET', '/v1/groups', undefined],
    ['PUT', `/v1/groups/${group}`, {}],
    ['GET', `/v1/groups/${group}`, undefined],
    ['DELETE', `/v1/groups/${group}`, undefined],
    ['POST', `/v1/groups/${group}/reset-offset`, { topic, to: 'EARLIEST' }],
    ['POST', `/v1/topics/${topic}/subscriptions/${group}/receive`, { waitMs: 5000 }],
    ['POST', `/v1/topics/${topic}/subscriptions/${group}/ack`, { receiptHandles: ['x'] }],
    ['POST', `/v1/topics/${topic}/subscriptions/${group}/nack`, { receiptHandles: ['x'] }],
    ['POST', `/v1/topics/${topic}/subscriptions/${group}/change-invisibility`, { receiptHandle: 'x', invisibleMs: 5000 }],
    ['GET', '/v1/no-such-endpoint', undefined],
    ['POST', '/v1/topics/bad.name/messages', { body: 'x' }],
  ];
}

const servers: DevServer[] = [];
afterEach((ctx) => {
  const s = servers[servers.length - 1];
  if (ctx.task.result?.state === 'fail' && s) console.error(`--- wrangler dev output (tail) ---\n${s.log.slice(-6000)}`);
});
afterAll(async () => { for (const s of servers) await s.dispose(); });

describe('closed by default: neither ADMIN_TOKEN nor ALLOW_ANONYMOUS', () => {
  it('answers 401 UNAUTHORIZED on every path, saying how to set a token, and stores nothing', async () => {
    const closed = await DevServer.start({ vars: {} });
    servers.push(closed);
    const api = new Api(() => closed.url);
    const topic = uniq('auth-t');
    const group = uniq('auth-g');
    for (const [method, path, body] of everyPath(topic, group)) {
      for (const token of [null, TOKEN, 'anything']) {
        const r = await api.req(method, path, body, { token });
        const msg = expectError(r, 401, 'UNAUTHORIZED');
        expect(msg, `${method} ${path}`).toMatch(/ADMIN_TOKEN/);
        expect(msg).toMatch(/wrangler secret put|\.dev\.vars/);
        expect(r.ms, 'a refused long poll does not wait').toBeLessThan(3000);
      }
    }
    const raw = await api.post(`/v1/topics/${topic}/messages`, undefined, { raw: 'hello', contentType: 'text/plain' });
    expectError(raw, 401, 'UNAUTHORIZED');
    // outside the API nothing is served either
    const root = await api.get('/');
    expect(root.status).toBeGreaterThanOrEqual(400);

    // the same state opened for local development: nothing was created by the refused requests
    await closed.stop();
    const open = await DevServer.start({ persistTo: closed.persistTo, vars: { ALLOW_ANONYMOUS: 'true' } });
    servers.push(open);
    const anon = new Api(() => open.url);
    expectError(await anon.get(`/v1/topics/${topic}`), 404, 'TOPIC_NOT_FOUND');
    expectError(await anon.get(`/v1/groups/${group}`), 404, 'GROUP_NOT_FOUND');
    expect((await anon.get('/v1/topics')).body).toEqual({ topics: [] });
    expect((await anon.get('/v1/groups')).body).toEqual({ groups: [] });
    await open.stop();
  });

  it('ALLOW_ANONYMOUS must be exactly "true"', async () => {
    const s = await DevServer.start({ vars: { ALLOW_ANONYMOUS: 'yes' } });
    servers.push(s);
    const api = new Api(() => s.url);
    expectError(await api.get('/v1/health'), 401, 'UNAUTHORIZED');
    expectError(await api.get('/v1/topics'), 401, 'UNAUTHORIZED');
    await s.stop();
  });
});

describe('with ADMIN_TOKEN', () => {
  it('no token or a wrong one is 401; the right Bearer token is let in', async () => {
    const s = await DevServer.start({ vars: { ADMIN_TOKEN: TOKEN } });
    servers.push(s);
    const anon = new Api(() => s.url);
    const admin = new Api(() => s.url, TOKEN);
    const topic = uniq('tok-t');
    const group = uniq('tok-g');

    for (const [method, path, body] of everyPath(topic, group)) {
      expectError(await anon.req(method, path, body), 401, 'UNAUTHORIZED');
      expectError(await anon.req(method, path, body, { token: 'wrong' }), 401, 'UNAUTHORIZED');
    }
    const wrong: Record<string, string>[] = [
      { Authorization: `Bearer ${TOKEN}x` }, { Authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { Authorization: `Bearer ${TOKEN.toLowerCase()}` }, { Authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { Authorization: TOKEN }, { Authorization: 'Bearer' }, { Authorization: 'Bearer ' }, { Authorization: '' },
      { 'X-Token': TOKEN },
    ];
    for (const headers of wrong) {
      const msg = expectError(await anon.req('GET', '/v1/topics', undefined, { headers }), 401, 'UNAUTHORIZED');
      expect(msg.length).toBeGreaterThan(5);
    }
    expect(expectError(await anon.get('/v1/topics'), 401, 'UNAUTHORIZED')).toMatch(/Bearer/);
    // refused writes stored nothing
    expect((await admin.get('/v1/topics')).body).toEqual({ topics: [] });
    expectError(await admin.get(`/v1/groups/${group}`), 404, 'GROUP_NOT_FOUND');

    // the right token works everywhere, whatever the case of the scheme
    expect((await admin.get('/v1/health')).status).toBe(200);
    expect((await admin.get('/v1/openapi.json')).status).toBe(200);
    await admin.createTopic(topic, { queues: 1 });
    await admin.produce(topic, { body: 'secret' });
    const lower = await anon.req('GET', `/v1/topics/${topic}`, undefined, { headers: { Authorization: `bearer ${TOKEN}` } });
    expect(lower.status).toBe(200);
    const [m] = await admin.receive(topic, group);
    expect(m.body).toBe('secret');
    expect(await admin.ack(topic, group, [m.receiptHandle])).toEqual(['OK']);
    expect((await admin.group(group)).lag).toBe(0);
    expect((await admin.del(`/v1/topics/${topic}`)).status).toBe(204);
    await s.stop();
  });

  it('a configured token wins over ALLOW_ANONYMOUS', async () => {
    const s = await DevServer.start({ vars: { ADMIN_TOKEN: TOKEN, ALLOW_ANONYMOUS: 'true' } });
    servers.push(s);
    const anon = new Api(() => s.url);
    expectError(await anon.get('/v1/health'), 401, 'UNAUTHORIZED');
    expectError(await anon.post('/v1/topics', { name: uniq('x') }), 401, 'UNAUTHORIZED');
    expectError(await anon.get('/v1/topics', { token: 'wrong' }), 401, 'UNAUTHORIZED');
    expect((await anon.get('/v1/topics', { token: TOKEN })).body).toEqual({ topics: [] });
    await s.stop();
  });
});
