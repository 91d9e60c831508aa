/**
 * Who is calling, and may they. Closed by default: the admin token, issued tokens (with PUB /
 * SUB / ADMIN per topic or group), or ALLOW_ANONYMOUS=true for local development.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Env } from '../env';
import { ApiError } from '../model/errors';
import type { Action, Permission } from '../model/schemas';
import { nameServer } from '../objects/names';

export type Principal = { admin: true; name: string } | { admin: false; name: string; permissions: Permission[] };
export type AuthEnv = { Bindings: Env; Variables: { principal: Principal } };

const enc = new TextEncoder();
const CACHE_MS = 2000;
const cache = new Map<string, { p: Principal | null; at: number }>();

async function sameSecret(a: string, b: string): Promise<boolean> {
  // compare digests in constant time, so neither content nor length leaks through timing
  const [x, y] = await Promise.all([a, b].map((s) => crypto.subtle.digest('SHA-256', enc.encode(s))));
  return crypto.subtle.timingSafeEqual(x, y);
}

export async function hashToken(token: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(token)));
  return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function newTokenSecret(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return `emq_${btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`;
}

/** A revoked token stops working in this isolate at once, and in others within CACHE_MS. */
export function forgetTokens(): void { cache.clear(); }

export function tokenOf(req: Request): string | null {
  const h = req.headers.get('Authorization');
  if (h) { const m = /^Bearer\s+(.+)$/i.exec(h.trim()); return m ? m[1].trim() : null; }
  return new URL(req.url).searchParams.get('token');
}

async function issued(env: Env, token: string): Promise<Principal | null> {
  const hit = cache.get(token);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.p;
  const rec = await nameServer(env).tokenByHash(await hashToken(token));
  const p: Principal | null = rec ? { admin: false, name: rec.name, permissions: rec.permissions } : null;
  if (cache.size > 10_000) cache.clear();
  cache.set(token, { p, at: Date.now() });
  return p;
}

export const auth: MiddlewareHandler<AuthEnv> = async (c, next) => {
  const admin = c.env.ADMIN_TOKEN;
  if (!admin) {
    if (c.env.ALLOW_ANONYMOUS === 'true') { c.set('principal', { admin: true, name: 'anonymous' }); return next(); }
    throw new ApiError('UNAUTHORIZED',
      'this edgemq server has no ADMIN_TOKEN and refuses every request: set one with `wrangler secret put ADMIN_TOKEN` '
      + '(or `ADMIN_TOKEN=...` in .dev.vars locally), or run `npm start`, which sets ALLOW_ANONYMOUS=true for local development only');
  }
  const token = tokenOf(c.req.raw);
  if (!token) throw new ApiError('UNAUTHORIZED', 'no token: send `Authorization: Bearer <token>` (or `?token=` on a WebSocket)');
  if (token.length > 512) throw new ApiError('UNAUTHORIZED', 'the token is not valid');
  if (await sameSecret(token, admin)) { c.set('principal', { admin: true, name: 'admin' }); return next(); }
  const p = await issued(c.env, token);
  if (!p) throw new ApiError('UNAUTHORIZED', 'the token is not valid (or was revoked)');
  c.set('principal', p);
  return next();
};

function grants(perm: Permission, action: Action, resource: string): boolean {
  if (!perm.actions.includes(action) && !perm.actions.includes('ADMIN')) return false;
  if (perm.resource === resource) return true;
  const [kind, name] = perm.resource.split(':');
  return name === '*' && resource.startsWith(`${kind}:`);
}

/** Throws 403 unless the caller holds `action` on every resource (ADMIN implies PUB and SUB). */
export function authorize(c: Context<AuthEnv>, action: Action, resources: string[]): void {
  const p = c.get('principal');
  if (!p || p.admin) return;
  const missing = resources.filter((r) => !p.permissions.some((perm) => grants(perm, action, r)));
  if (missing.length) {
    throw new ApiError('FORBIDDEN', `token "${p.name}" lacks ${action} on ${missing.join(' and ')}`);
  }
}

/** What a route needs: checked by define() before its handler runs. */
export type Access = (c: Context<AuthEnv>) => void;
export const access = {
  /** everything else: ADMIN on all topics and groups */
  global: ((c) => authorize(c, 'ADMIN', ['topic:*', 'group:*'])) as Access,
  authenticated: (() => undefined) as Access,
  topic: (action: Action): Access => (c) => authorize(c, action, [`topic:${c.req.param('topic')}`]),
  group: (action: Action): Access => (c) => authorize(c, action, [`group:${c.req.param('group')}`]),
  consume: ((c) => authorize(c, 'SUB', [`topic:${c.req.param('topic')}`, `group:${c.req.param('group')}`])) as Access,
};
