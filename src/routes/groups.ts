/** Consumer groups: create/update, list, detail with per-queue lag, delete, reset offset. */
import { z } from '@hono/zod-openapi';
import type { Env } from '../env';
import { ApiError, unwrap } from '../model/errors';
import { parseFilterKey } from '../model/filter';
import { GroupConfig, GroupDetail, GroupList, GroupPut, ResetOffset, ResetOffsetResult, type GroupConfig as Group } from '../model/schemas';
import { broker, nameServer, type TopicRoute } from '../objects/names';
import type { Subscription } from '../storage/catalog';
import { findTopic, forgetGroup, groupFor, rememberGroup, subscribe, topicOr404 } from '../worker/catalog-cache';
import { check, groupParam, readJson } from '../worker/validate';
import { consumerRef } from './subscriptions';
import { TopicName } from '../model/schemas';
import { DLQ_PREFIX } from '../objects/names';
import { access } from '../worker/auth';
import { define, type App } from './define';

const GROUP = { group: 'consumer group name' };

/** Per-queue position of the group on every topic it subscribes to. */
async function groupQueues(env: Env, g: Group, subs: Subscription[]) {
  const keys = g.mode === 'BROADCASTING' ? { prefix: `${g.name}\u001f` } : [g.name];
  const perTopic = await Promise.all(subs.map(async (s) => {
    const t = await findTopic(env, s.topic);
    if (!t) return [];
    return Promise.all(Array.from({ length: t.queues }, async (_, q) => {
      const r = unwrap(await broker(env, t, q).groupStatus({ topic: t, queueId: q }, keys));
      return { topic: t.name, ...r };
    }));
  }));
  return perTopic.flat();
}

function subscriptionsOut(subs: Subscription[]) {
  return subs.map((s) => ({ topic: s.topic, filter: s.filter === null ? null : parseFilterKey(s.filter) }));
}

function groupOut(g: Group) {
  const { name, mode, consumeFrom, maxRetries, retryPolicy, invisibleMs, createdAt } = g;
  return { name, mode, consumeFrom, maxRetries, retryPolicy, invisibleMs, createdAt };
}

export function groupRoutes(app: App) {
  define(app, 'put', '/v1/groups/{group}', {
    summary: 'Create or update a consumer group', tags: ['groups'], params: GROUP, body: GroupPut,
    ok: { status: 200, schema: GroupConfig, description: 'updated (201 when created)' }, access: access.group('ADMIN'),
  }, async (c) => {
    const name = groupParam(c);
    const body = await readJson(c, GroupPut);
    const { group, created } = await nameServer(c.env).putGroup(name, body);
    rememberGroup(group);
    return c.json(groupOut(group), created ? 201 : 200);
  });

  define(app, 'get', '/v1/groups', {
    summary: 'List consumer groups with their total lag', tags: ['groups'], ok: { status: 200, schema: GroupList },
  }, async (c) => {
    const all = await nameServer(c.env).listGroups();
    const groups = await Promise.all(all.map(async ({ group, subscriptions }) => {
      const qs = await groupQueues(c.env, group, subscriptions);
      const consumers = new Set(qs.flatMap((q) => [...q.consumers, ...q.pushConsumers].map((x) => x.consumerId)));
      return { name: group.name, mode: group.mode, lag: qs.reduce((n, q) => n + q.lag, 0), consumers: consumers.size };
    }));
    return c.json({ groups });
  });

  define(app, 'get', '/v1/groups/{group}', {
    summary: 'A group: config, subscriptions, consumers and per-queue lag', tags: ['groups'], params: GROUP,
    ok: { status: 200, schema: GroupDetail }, errors: [404], access: access.group('ADMIN'),
  }, async (c) => {
    const name = groupParam(c);
    const d = await nameServer(c.env).groupDetail(name);
    if (!d) throw new ApiError('GROUP_NOT_FOUND', `group "${name}" does not exist`);
    const qs = await groupQueues(c.env, d.group, d.subscriptions);
    type Live = { consumerId: string; transport: 'pull' | 'ws'; topic: string; lastSeen?: number; connectedAt?: number };
    const consumers = new Map<string, Live>();
    for (const q of qs) {
      for (const x of q.consumers) {
        const k = `pull\u0000${q.topic}\u0000${x.consumerId}`;
        const prev = consumers.get(k);
        if (!prev || prev.lastSeen! < x.lastSeen) consumers.set(k, { consumerId: x.consumerId, transport: 'pull', topic: q.topic, lastSeen: x.lastSeen });
      }
      for (const x of q.pushConsumers) {
        const k = `ws\u0000${q.topic}\u0000${x.consumerId}`;
        const prev = consumers.get(k);
        if (!prev || prev.connectedAt! > x.connectedAt) consumers.set(k, { consumerId: x.consumerId, transport: 'ws', topic: q.topic, connectedAt: x.connectedAt });
      }
    }
    return c.json({
      ...groupOut(d.group),
      subscriptions: subscriptionsOut(d.subscriptions),
      consumers: [...consumers.values()],
      queues: qs.map(({ consumers: _c, pushConsumers: _p, ...q }) => q),
      lag: qs.reduce((n, q) => n + q.lag, 0),
    });
  });

  define(app, 'delete', '/v1/groups/{group}', {
    summary: 'Delete a consumer group and its offsets', tags: ['groups'], params: GROUP,
    ok: { status: 204, description: 'deleted' }, errors: [404], access: access.group('ADMIN'),
  }, async (c) => {
    const name = groupParam(c);
    const subs = await nameServer(c.env).deleteGroup(name);
    forgetGroup(name);
    if (!subs) throw new ApiError('GROUP_NOT_FOUND', `group "${name}" does not exist`);
    await Promise.all(subs.map(async (s) => {
      const t = await findTopic(c.env, s.topic);
      if (t) await Promise.all(Array.from({ length: t.queues }, (_, q) => broker(c.env, t, q).dropGroup({ topic: t, queueId: q }, name)));
    }));
    return c.body(null, 204);
  });

  define(app, 'post', '/v1/groups/{group}/reset-offset', {
    summary: 'Move the group on a topic to EARLIEST, LATEST, a timestamp, or a queue offset', tags: ['groups'],
    params: GROUP, body: ResetOffset, ok: { status: 200, schema: ResetOffsetResult }, errors: [404], access: access.group('ADMIN'),
  }, async (c) => {
    const name = groupParam(c);
    const body = await readJson(c, ResetOffset);
    if (!check(z.string(), body.topic) || !(TopicName.safeParse(body.topic).success || body.topic.startsWith(DLQ_PREFIX))) {
      throw new ApiError('INVALID_NAME', `topic name "${body.topic.slice(0, 140)}" is invalid`);
    }
    const t: TopicRoute = await topicOr404(c.env, body.topic);
    const to = body.to;
    const queues = typeof to === 'object' && 'queueId' in to ? [to.queueId] : Array.from({ length: t.queues }, (_, q) => q);
    // refused before the group is created or subscribed: nothing is half-applied
    if (queues[0] >= t.queues) throw new ApiError('BAD_REQUEST', `to.queueId ${queues[0]} does not exist: topic "${t.name}" has queues 0..${t.queues - 1}`);
    const group = await groupFor(c.env, name);
    await subscribe(c.env, name, t.name, null);
    const ref = consumerRef({ ...group, mode: 'CLUSTERING' }, null);
    const target = group.mode === 'BROADCASTING' ? { ...ref, group, consumerId: null } : ref;
    const offsets = await Promise.all(queues.map(async (q) => unwrap(await broker(c.env, t, q).resetOffset({ topic: t, queueId: q }, target, to))));
    return c.json({ group: name, topic: t.name, offsets });
  });
}
