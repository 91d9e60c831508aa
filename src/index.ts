/** The Worker: parse, authorize, route. State lives in the NameServer and Broker objects. */
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { TrieRouter } from 'hono/router/trie-router';
import { ApiError } from './model/errors';
import { LIMITS } from './model/limits';
import { clusterRoutes } from './routes/cluster';
import { dlqRoutes } from './routes/dlq';
import { groupRoutes } from './routes/groups';
import { messageRoutes } from './routes/messages';
import { pushRoutes } from './routes/push';
import { queryRoutes } from './routes/query';
import { siteRoutes } from './routes/site';
import { transactionRoutes } from './routes/transactions';
import { subscriptionRoutes } from './routes/subscriptions';
import { systemRoutes } from './routes/system';
import { tokenRoutes } from './routes/tokens';
import { topicRoutes } from './routes/topics';
import { auth, type AuthEnv } from './worker/auth';
import { MatchCache } from './worker/match-cache';

export { Broker } from './objects/Broker';
export { NameServer } from './objects/NameServer';

const app = new OpenAPIHono<AuthEnv>({ router: new MatchCache(new TrieRouter()) });

app.onError((err, c) => {
  if (err instanceof ApiError) {
    if (err.retryAfterSec !== undefined) c.header('Retry-After', String(err.retryAfterSec));
    return c.json(err.toJSON(), err.status as 400);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? 'BATCH_TOO_LARGE' : status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST';
    return c.json({ error: { code, message: err.message || 'bad request' } }, status);
  }
  // a Durable Object over its capacity (the runtime marks such errors), or a reset mid-call
  const flags = err as { overloaded?: boolean; retryable?: boolean; durableObjectReset?: boolean };
  if (flags.overloaded || flags.retryable || flags.durableObjectReset || /overloaded|too many requests/i.test(err.message)) {
    c.header('Retry-After', '1');
    return c.json({ error: { code: 'OVERLOADED', message: 'the queue is over its capacity or restarting; retry after a second' } }, 503);
  }
  console.error('internal error', err);
  return c.json({ error: { code: 'INTERNAL', message: 'internal error; it was logged' } }, 500);
});

app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route for ${c.req.method} ${new URL(c.req.url).pathname}: see /v1/openapi.json` } }, 404));

// API.md: responses are `application/json; charset=utf-8` (c.json sends no charset)
app.use('*', async (c, next) => {
  await next();
  if (c.res.headers.get('Content-Type') === 'application/json') c.res.headers.set('Content-Type', 'application/json; charset=utf-8');
});

app.use('/v1/*', auth);

// sizes are checked before anything is parsed: a full batch for produce, 1 MiB elsewhere
function bodyLimitOf(limit: number, code: 'BATCH_TOO_LARGE' | 'BAD_REQUEST') {
  const tooLarge = () => new ApiError(code, `the request body is larger than ${limit} bytes`, 413);
  return { limit, tooLarge, counted: bodyLimit({ maxSize: limit, onError: () => { throw tooLarge(); } }) };
}
const produceLimit = bodyLimitOf(LIMITS.requestBytesMax, 'BATCH_TOO_LARGE');
const controlLimit = bodyLimitOf(LIMITS.controlRequestBytesMax, 'BAD_REQUEST');
app.use('/v1/*', async (c, next) => {
  if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'DELETE') return next();
  const { limit, tooLarge, counted } = /^\/v1\/topics\/[^/]+\/messages$/.test(c.req.path) ? produceLimit : controlLimit;
  // a declared length is checked as bodyLimit does, but without reading `.body` first (that makes
  // a stream object per request); a body without one is counted as it is read
  const length = c.req.header('Content-Length');
  if (length !== undefined && c.req.header('Transfer-Encoding') === undefined) {
    if (parseInt(length, 10) > limit) throw tooLarge();
    return next();
  }
  return counted(c, next);
});

systemRoutes(app);
topicRoutes(app);
messageRoutes(app);
groupRoutes(app);
subscriptionRoutes(app);
pushRoutes(app);
transactionRoutes(app);
queryRoutes(app);
tokenRoutes(app);
dlqRoutes(app);
clusterRoutes(app);
siteRoutes(app);

export default app;
