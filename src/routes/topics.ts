/** Topics: create, list, get with per-queue status, patch, delete. */
import { ApiError, unwrap } from '../model/errors';
import { z } from '@hono/zod-openapi';
import { TopicCreate, TopicDetail, TopicList, TopicName, TopicPatch, Topic } from '../model/schemas';
import { broker, nameServer, type TopicRoute } from '../objects/names';
import { forgetTopic, rememberTopic, topicOr404 } from '../worker/catalog-cache';
import { check, readJson, topicParam } from '../worker/validate';
import type { Env } from '../env';
import { access, authorize } from '../worker/auth';
import { define, type App } from './define';

const TOPIC = { topic: 'topic name' };

/** The public form of a topic (the incarnation stays internal). */
export function publicTopic(t: TopicRoute) {
  const { incarnation: _i, dedupQueues: _d, ...rest } = t;
  return rest;
}

/** Per-queue status from every broker of the topic. */
export async function queueStatus(env: Env, t: TopicRoute) {
  return Promise.all(Array.from({ length: t.queues }, async (_, q) => {
    const s = unwrap(await broker(env, t, q).status({ topic: t, queueId: q }));
    return {
      queueId: q, minOffset: s.minOffset, maxOffset: s.maxOffset, lastStoreTimestamp: s.lastStoreTimestamp,
      messages: s.messages, bytes: s.bytes,
    };
  }));
}

export function topicRoutes(app: App) {
  define(app, 'post', '/v1/topics', {
    summary: 'Create a topic', tags: ['topics'], body: TopicCreate, ok: { status: 201, schema: Topic }, errors: [409],
    access: access.authenticated, // ADMIN on the topic named in the body, checked below
  }, async (c) => {
    const raw = await readJson(c, z.object({ name: z.unknown() }).passthrough());
    if (typeof raw.name === 'string' && !TopicName.safeParse(raw.name).success) {
      throw new ApiError('INVALID_NAME', `topic name "${raw.name.slice(0, 140)}" is invalid: use 1-127 of A-Z a-z 0-9 _ - (names starting with % are reserved)`);
    }
    const body = check(TopicCreate, raw);
    authorize(c, 'ADMIN', [`topic:${body.name}`]);
    const t = unwrap(await nameServer(c.env).createTopic(body));
    rememberTopic(t);
    return c.json(publicTopic(t), 201);
  });

  define(app, 'get', '/v1/topics', {
    summary: 'List topics', tags: ['topics'], ok: { status: 200, schema: TopicList },
  }, async (c) => {
    const all = await nameServer(c.env).listTopics();
    const topics = await Promise.all(all.map(async (t) => {
      const qs = await queueStatus(c.env, t);
      return {
        name: t.name, queues: t.queues, type: t.type,
        messages: qs.reduce((n, q) => n + q.messages, 0), bytes: qs.reduce((n, q) => n + q.bytes, 0),
      };
    }));
    return c.json({ topics });
  });

  define(app, 'get', '/v1/topics/{topic}', {
    summary: 'Get a topic and the status of each of its queues', tags: ['topics'], params: TOPIC,
    ok: { status: 200, schema: TopicDetail }, errors: [404], access: access.topic('ADMIN'),
  }, async (c) => {
    const t = await topicOr404(c.env, topicParam(c, { system: true }));
    const queueStatusList = await queueStatus(c.env, t);
    return c.json({
      ...publicTopic(t),
      messages: queueStatusList.reduce((n, q) => n + q.messages, 0),
      bytes: queueStatusList.reduce((n, q) => n + q.bytes, 0),
      queueStatus: queueStatusList,
    });
  });

  define(app, 'patch', '/v1/topics/{topic}', {
    summary: 'Change retention, size limit or dedup window, or grow the queues', tags: ['topics'], params: TOPIC,
    body: TopicPatch, ok: { status: 200, schema: Topic }, errors: [404], access: access.topic('ADMIN'),
  }, async (c) => {
    const name = topicParam(c);
    const patch = await readJson(c, TopicPatch);
    if (Object.keys(patch).length === 0) {
      throw new ApiError('BAD_REQUEST', 'nothing to change: give queues, retentionHours, maxMessageBytes, dedupWindowMs or trace');
    }
    const t = unwrap(await nameServer(c.env).patchTopic(name, patch));
    rememberTopic(t);
    return c.json(publicTopic(t));
  });

  define(app, 'delete', '/v1/topics/{topic}', {
    summary: 'Delete a topic and all of its messages', tags: ['topics'], params: TOPIC,
    ok: { status: 204, description: 'deleted' }, errors: [404], access: access.topic('ADMIN'),
  }, async (c) => {
    const name = topicParam(c, { system: true });
    const t = await nameServer(c.env).deleteTopic(name);
    forgetTopic(name);
    if (!t) throw new ApiError('TOPIC_NOT_FOUND', `topic "${name}" does not exist`);
    await Promise.all(Array.from({ length: t.queues }, (_, q) => broker(c.env, t, q).drop()));
    return c.body(null, 204);
  });
}
