/** Closed by default: the admin token, or ALLOW_ANONYMOUS=true for local development. */
import type { MiddlewareHandler } from 'hono';
import type { Env } from '../env';
import { ApiError } from '../model/errors';

const enc = new TextEncoder();

async function sameSecret(a: string, b: string): Promise<boolean> {
  // compare digests in constant time, so neither content nor length leaks through timing
  const [x, y] = await Promise.all([a, b].map((s) => crypto.subtle.digest('SHA-256', enc.encode(s))));
  return crypto.subtle.timingSafeEqual(x, y);
}

export function tokenOf(req: Request): string | null {
  const h = req.headers.get('Authorization');
  if (h) { const m = /^Bearer\s+(.+)$/i.exec(h.trim()); return m ? m[1].trim() : null; }
  return new URL(req.url).searchParams.get('token');
}

export const auth: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const admin = c.env.ADMIN_TOKEN;
  if (!admin) {
    if (c.env.ALLOW_ANONYMOUS === 'true') return next();
    throw new ApiError('UNAUTHORIZED',
      'this edgemq server has no ADMIN_TOKEN and refuses every request: set one with `wrangler secret put ADMIN_TOKEN` '
      + '(or `ADMIN_TOKEN=...` in .dev.vars locally), or run `npm start`, which sets ALLOW_ANONYMOUS=true for local development only');
  }
  const token = tokenOf(c.req.raw);
  if (!token) throw new ApiError('UNAUTHORIZED', 'no token: send `Authorization: Bearer <token>` (or `?token=` on a WebSocket)');
  if (!(await sameSecret(token, admin))) throw new ApiError('UNAUTHORIZED', 'the token is not valid');
  return next();
};
