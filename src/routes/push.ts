/** Push over WebSocket: a topic-level subscription, served by the Broker of a 1-queue topic, else relayed to every queue's Broker. */
import { z } from '@hono/zod-openapi';
import { ApiError } from '../model/errors';
import { compileFilter, filterKey, type FilterSpec } from '../model/filter';
import { ConsumerId } from '../model/schemas';
import type { TopicRoute } from '../objects/names';
import type { PushSubscription } from '../objects/Broker';
import { upgradeAtBroker } from '../worker/broker-upgrade';
import { groupFor, subscribe, topicOr404 } from '../worker/catalog-cache';
import { Relay, type Upstream } from '../worker/relay';
import { check, groupParam, topicParam } from '../worker/validate';
import type { Env } from '../env';
import { consumerRef } from './subscriptions';
import { access } from '../worker/auth';
import { define, type App } from './define';

const Query = z.object({
  consumerId: ConsumerId.optional(),
  filter: z.string().max(1024).optional(),
  sql: z.string().max(4096).optional(),
  maxInflight: z.coerce.number().int().min(1).max(1024).default(64),
  token: z.string().optional(),
});

/** Opens queue `q`'s push socket at its Broker (the 101 response, not yet accepted). */
function openAtBroker(env: Env, t: TopicRoute, q: number, sub: Omit<PushSubscription, 'route'>): Promise<WebSocket> {
  return upgradeAtBroker(env, t, q, { name: 'X-Edgemq-Sub', value: JSON.stringify({ ...sub, route: { topic: t, queueId: q } }) });
}

async function openUpstream(env: Env, t: TopicRoute, q: number, sub: Omit<PushSubscription, 'route'>): Promise<WebSocket> {
  const ws = await openAtBroker(env, t, q, sub);
  ws.accept();
  return ws;
}

export function pushRoutes(app: App) {
  define(app, 'get', '/v1/topics/{topic}/subscriptions/{group}/ws', {
    summary: 'Subscribe over WebSocket (Upgrade: websocket): messages are pushed as they are stored',
    tags: ['consume'], params: { topic: 'topic name', group: 'consumer group name' }, query: Query,
    ok: { status: 101, description: 'switching protocols; frames as in the API reference' }, errors: [404, 426],
    access: access.consume,
  }, async (c) => {
    const query = check(Query, c.req.query());
    if ((c.req.header('Upgrade') ?? '').toLowerCase() !== 'websocket') {
      throw new ApiError('BAD_REQUEST', 'this endpoint is a WebSocket: connect with Upgrade: websocket', 426);
    }
    const topic = await topicOr404(c.env, topicParam(c, { system: true }));
    const name = groupParam(c);
    // a bad filter is refused before the group is looked up (a group used first is created)
    if (query.filter && query.sql) throw new ApiError('INVALID_FILTER', 'give either filter (a tag expression) or sql, not both');
    const spec: FilterSpec | null = query.sql ? { sql: query.sql } : query.filter ? query.filter : null;
    compileFilter(spec);
    const group = await groupFor(c.env, name);
    // BROADCASTING needs the client's own consumerId (its offsets are kept under it): consumerRef
    // refuses a missing one; a CLUSTERING consumer without one gets a name for the group listing
    const ref = consumerRef(group, query.consumerId);
    const consumerId = query.consumerId ?? `anon-${crypto.randomUUID().slice(0, 8)}`;
    await subscribe(c.env, group.name, topic.name, spec === null ? null : filterKey(spec));
    const sub = { group, key: ref.key, consumerId, filter: spec, connId: `ws:${crypto.randomUUID()}` };
    // a topic of one queue: the client's socket ends at that queue's Broker, which keeps its credit
    // (no relay hop, and an idle subscription hibernates whole); else a relay joins the queues
    if (topic.queues === 1) {
      const ws = await openAtBroker(c.env, topic, 0, { ...sub, budget: query.maxInflight });
      return new Response(null, { status: 101, webSocket: ws });
    }
    const opened = await Promise.allSettled(Array.from({ length: topic.queues }, (_, q) => openUpstream(c.env, topic, q, sub)));
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed) {
      for (const r of opened) if (r.status === 'fulfilled') r.value.close(1000, 'subscription failed');
      throw (failed as PromiseRejectedResult).reason;
    }
    const up: Upstream[] = opened.map((r) => ({ ws: (r as PromiseFulfilledResult<WebSocket>).value, granted: 0 }));
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    server.accept();
    new Relay(server, up, topic, query.maxInflight).start();
    return new Response(null, { status: 101, webSocket: client });
  });
}
