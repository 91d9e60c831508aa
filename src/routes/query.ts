/** Message lookup by id, and recall of a scheduled message. */
import type { Context } from 'hono';
import { ApiError, unwrap } from '../model/errors';
import { decodeMessageId, IdKind, type MessageIdParts } from '../model/ids';
import { broker, type TopicRoute } from '../objects/names';
import { topicOr404 } from '../worker/catalog-cache';
import { topicParam } from '../worker/validate';
import { access, type AuthEnv } from '../worker/auth';
import { define, type App } from './define';

const PARAMS = { topic: 'topic name', messageId: 'as produce answered' };

async function locate(c: Context<AuthEnv>): Promise<{ t: TopicRoute; id: string; d: MessageIdParts }> {
  const t = await topicOr404(c.env, topicParam(c, { system: true }));
  const id = c.req.param('messageId') ?? '';
  const d = decodeMessageId(id);
  if (!d || d.kind === IdKind.Tx || d.incarnation !== t.incarnation || d.queueId >= t.queues) {
    throw new ApiError('MESSAGE_NOT_FOUND', `message "${id.slice(0, 64)}" does not exist in topic "${t.name}"`);
  }
  return { t, id, d };
}

export function queryRoutes(app: App) {
  define(app, 'get', '/v1/topics/{topic}/messages/{messageId}', {
    summary: 'A message by id, with its state', tags: ['query'], params: PARAMS, ok: { status: 200 }, errors: [404],
    access: access.topic('ADMIN'),
  }, async (c) => {
    const { t, id, d } = await locate(c);
    const where = d.kind === IdKind.Log ? { off: d.seq } : { seq: d.seq };
    const m = unwrap(await broker(c.env, t, d.queueId).getMessage({ topic: t, queueId: d.queueId }, where));
    if (!m) throw new ApiError('MESSAGE_NOT_FOUND', `message "${id}" does not exist in topic "${t.name}" (or retention deleted it)`);
    return c.json({ ...(m as Record<string, unknown>), groups: [] });
  });

  define(app, 'delete', '/v1/topics/{topic}/messages/{messageId}', {
    summary: 'Recall a scheduled message that is not yet due', tags: ['messages'], params: PARAMS,
    ok: { status: 204, description: 'recalled: it will never be delivered' }, errors: [404, 409],
    access: access.topic('PUB'),
  }, async (c) => {
    const { t, d } = await locate(c);
    if (d.kind !== IdKind.Pending) throw new ApiError('CONFLICT', 'only a scheduled message that is not yet due can be recalled; this one is already stored in the queue');
    unwrap(await broker(c.env, t, d.queueId).recall({ topic: t, queueId: d.queueId }, d.seq));
    return c.body(null, 204);
  });
}
