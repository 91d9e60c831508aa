/**
 * The Worker's router remembers matches (src/worker/match-cache.ts): a remembered match is the one
 * the trie would give for that method and path, params included; the memory stays bounded; and
 * the app routes through it.
 */
import fc from 'fast-check';
import { SELF } from 'cloudflare:test';
import { TrieRouter } from 'hono/router/trie-router';
import type { Result } from 'hono/router';
import { describe, expect, it } from 'vitest';
import app from '../../src/index';
import { MatchCache } from '../../src/worker/match-cache';

const ROUTES: [string, string][] = [
  ['ALL', '/*'], ['ALL', '/v1/*'], ['GET', '/v1/health'], ['POST', '/v1/topics'],
  ['GET', '/v1/topics/:topic'], ['POST', '/v1/topics/:topic/messages'], ['GET', '/v1/topics/:topic/messages/ws'],
  ['GET', '/v1/topics/:topic/messages/:messageId'], ['POST', '/v1/topics/:topic/subscriptions/:group/ack'],
];

/** a router of ROUTES whose handlers are their own method and path, and how often it was asked */
function routers(max?: number) {
  const trie = new TrieRouter<string>();
  const inner = new TrieRouter<string>();
  let asked = 0;
  const counted = { name: 'counted', add: inner.add.bind(inner), match: (m: string, p: string) => { asked++; return inner.match(m, p); } };
  const cache = new MatchCache<string>(counted, max);
  for (const [m, p] of ROUTES) { trie.add(m, p, `${m} ${p}`); cache.add(m, p, `${m} ${p}`); }
  return { trie, cache, asked: () => asked };
}
const plain = (r: Result<string>) => JSON.parse(JSON.stringify(r[0]));

describe('MatchCache', () => {
  it('answers what the trie answers, params included, whether remembered or not', () => {
    const { trie, cache } = routers(8);
    const seg = fc.constantFrom('a', 'b', 'ws', 'ack', 'x%20y', 'messages');
    const path = fc.array(seg, { maxLength: 6 }).chain((parts) => fc.constantFrom(`/v1/topics/${parts.join('/')}`, `/v1/${parts.join('/')}`, `/${parts.join('/')}`));
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('GET', 'POST', 'DELETE'), path), { minLength: 1, maxLength: 40 }), (asks) => {
      for (const [m, p] of asks) expect(plain(cache.match(m, p)), `${m} ${p}`).toEqual(plain(trie.match(m, p)));
    }));
  });

  it('asks the router once per method and path, and keeps at most `max` answers', () => {
    const { cache, asked } = routers(3);
    const a = cache.match('POST', '/v1/topics/a/messages');
    expect(cache.match('POST', '/v1/topics/a/messages')).toBe(a);
    expect(asked()).toBe(1);
    expect(plain(cache.match('POST', '/v1/topics/b/messages'))[2]).toEqual(['POST /v1/topics/:topic/messages', { topic: 'b' }]);
    expect(plain(a)[2]).toEqual(['POST /v1/topics/:topic/messages', { topic: 'a' }]);
    cache.match('GET', '/v1/topics/a/messages'); // a third answer: the cache is full
    expect(asked()).toBe(3);
    cache.match('GET', '/v1/health'); // a fourth: the oldest (POST .../a/messages) goes
    expect(cache.match('POST', '/v1/topics/b/messages')).toBeDefined();
    expect(asked()).toBe(4);
    cache.match('POST', '/v1/topics/a/messages');
    expect(asked()).toBe(5);
  });

  it('forgets its answers when a route is added', () => {
    const { cache, asked } = routers();
    expect(plain(cache.match('GET', '/v1/later'))).toHaveLength(2); // only the middleware routes
    cache.add('GET', '/v1/later', 'GET /v1/later');
    expect(plain(cache.match('GET', '/v1/later'))[2]).toEqual(['GET /v1/later', {}]);
    expect(asked()).toBe(2);
  });

  it('is the router the Worker answers through', async () => {
    expect(app.router).toBeInstanceOf(MatchCache);
    const h = await SELF.fetch('http://x/v1/health');
    expect(h.status).toBe(200);
    const again = await SELF.fetch('http://x/v1/health');
    expect(again.status).toBe(200);
    const none = await SELF.fetch('http://x/v1/topics/nope-match-cache');
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('TOPIC_NOT_FOUND');
  });
});
