/** Transactional (half) messages: prepare, then commit or roll back (or be checked back). */
import { ApiError, unwrap } from '../model/errors';
import { decodeMessageId, hash32, IdKind } from '../model/ids';
import { LIMITS } from '../model/limits';
import { prepare } from '../model/message';
import { TxCreate, TxCreated, TxResolved } from '../model/schemas';
import { broker } from '../objects/names';
import { topicOr404 } from '../worker/catalog-cache';
import { readJson, topicParam } from '../worker/validate';
import { access } from '../worker/auth';
import { define, type App } from './define';

let roundRobin = Math.floor(Math.random() * 1024);

export function transactionRoutes(app: App) {
  define(app, 'post', '/v1/topics/{topic}/transactions', {
    summary: 'Send half messages: stored, invisible until the transaction commits', tags: ['transactions'],
    params: { topic: 'topic name' }, body: TxCreate, ok: { status: 201, schema: TxCreated }, errors: [404, 413], access: access.topic('PUB'),
  }, async (c) => {
    const name = topicParam(c);
    const body = await readJson(c, TxCreate);
    const t = await topicOr404(c.env, name);
    if (body.messages.length > LIMITS.batchMessagesMax) {
      throw new ApiError('BATCH_TOO_LARGE', `a transaction holds at most ${LIMITS.batchMessagesMax} messages`);
    }
    const now = Date.now();
    const single = body.messages.length === 1;
    const out = body.messages.map((m, i) => prepare(m, t, now, single ? '' : i, true));
    const total = out.reduce((n, o) => n + o.size, 0);
    if (total > LIMITS.batchBytesMax) throw new ApiError('BATCH_TOO_LARGE', `the transaction holds ${total} bytes; the limit is ${LIMITS.batchBytesMax}`);
    // all of a transaction is in one queue, so that it commits atomically
    const g = body.messages.find((m) => m.messageGroup !== undefined)?.messageGroup;
    const q = g !== undefined ? hash32(g) % t.queues : roundRobin++ % t.queues;
    const { checkUrl, checkAfterMs, checkIntervalMs, maxChecks, timeoutMs } = body;
    const r = unwrap(await broker(c.env, t, q).prepare({ topic: t, queueId: q }, out, { checkUrl, checkAfterMs, checkIntervalMs, maxChecks, timeoutMs }));
    return c.json(r, 201);
  });

  for (const [verb, decision] of [['commit', 'COMMIT'], ['rollback', 'ROLLBACK']] as const) {
    define(app, 'post', `/v1/topics/{topic}/transactions/{transactionId}/${verb}`, {
      summary: verb === 'commit' ? 'Commit: the half messages become deliverable' : 'Roll back: the half messages are dropped',
      tags: ['transactions'], params: { topic: 'topic name', transactionId: 'as the prepare answered' },
      ok: { status: 200, schema: TxResolved }, errors: [404, 409], access: access.topic('PUB'),
    }, async (c) => {
      const t = await topicOr404(c.env, topicParam(c));
      const id = c.req.param('transactionId') ?? '';
      const d = decodeMessageId(id);
      if (!d || d.kind !== IdKind.Tx || d.incarnation !== t.incarnation || d.queueId >= t.queues) {
        throw new ApiError('TRANSACTION_NOT_FOUND', `transaction "${id.slice(0, 64)}" does not exist in topic "${t.name}"`);
      }
      const r = unwrap(await broker(c.env, t, d.queueId).resolve({ topic: t, queueId: d.queueId }, d.seq, decision));
      return c.json({ transactionId: id, state: r.state });
    });
  }
}
