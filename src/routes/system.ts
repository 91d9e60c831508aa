/** Liveness and the OpenAPI document. */
import { z } from '@hono/zod-openapi';
import { access } from '../worker/auth';
import { define, type App } from './define';

export function systemRoutes(app: App) {
  define(app, 'get', '/v1/health', {
    summary: 'Liveness: touches no storage and no Durable Object', tags: ['system'],
    ok: { status: 200, schema: z.object({ status: z.literal('ok'), time: z.number().int() }) },
    access: access.authenticated,
  }, (c) => c.json({ status: 'ok', time: Date.now() }));

  app.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'edgemq API', version: '1.0.0',
      description: 'A RocketMQ-style message queue on Cloudflare Workers and Durable Objects. Errors are '
        + '`{"error": {"code", "message"}}`; auth is `Authorization: Bearer <token>`.',
    },
    servers: [{ url: '/' }],
  });
}
