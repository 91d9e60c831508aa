/**
 * Declares a route once: its OpenAPI description (served at /v1/openapi.json) is built from the
 * same zod schemas that the handler validates with (src/worker/validate.ts).
 */
import { createRoute, type OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Handler } from 'hono';
import { access as accessOf, type Access, type AuthEnv } from '../worker/auth';
import { ErrorSchema } from '../model/schemas';

export type App = OpenAPIHono<AuthEnv>;
type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteDoc {
  summary: string;
  tags: string[];
  params?: Record<string, string>;
  query?: z.ZodObject;
  /** request headers the route reads (documented only: the handler checks them) */
  headers?: z.ZodObject;
  body?: z.ZodTypeAny;
  /** other request media types, e.g. the raw-body produce */
  altBody?: Record<string, { schema: z.ZodTypeAny }>;
  ok: { status: number; schema?: z.ZodTypeAny; description?: string };
  errors?: number[];
  /** who may call it; default: global ADMIN */
  access?: Access;
}

const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });

export function define(app: App, method: Method, path: string, doc: RouteDoc, handler: Handler<AuthEnv>): void {
  const responses: RouteConfig['responses'] = {
    [doc.ok.status]: { description: doc.ok.description ?? 'OK', ...(doc.ok.schema ? { content: json(doc.ok.schema) } : {}) },
  };
  for (const s of [400, 401, 403, ...(doc.errors ?? [])]) responses[s] = { description: 'error', content: json(ErrorSchema) };
  const params = doc.params
    ? z.object(Object.fromEntries(Object.entries(doc.params).map(([k, d]) => [k, z.string().openapi({ param: { name: k, in: 'path' }, description: d })])))
    : undefined;
  const route = createRoute({
    method, path, summary: doc.summary, tags: doc.tags, responses,
    request: {
      ...(params ? { params } : {}),
      ...(doc.query ? { query: doc.query } : {}),
      ...(doc.headers ? { headers: doc.headers } : {}),
      ...(doc.body || doc.altBody ? { body: { content: { ...(doc.body ? json(doc.body) : {}), ...(doc.altBody ?? {}) }, required: !!doc.body } } : {}),
    },
  });
  app.openAPIRegistry.registerPath(route);
  const check = doc.access ?? accessOf.global;
  app.on(method.toUpperCase(), path.replace(/\{(\w+)\}/g, ':$1'), (c, next) => { check(c); return handler(c, next); });
}
