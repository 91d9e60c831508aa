/** Issued tokens: created with their permissions, shown once, listed without secrets, revoked at once. */
import { z } from '@hono/zod-openapi';
import { ApiError, unwrap } from '../model/errors';
import { TokenCreate, TokenCreated, TokenInfo } from '../model/schemas';
import { nameServer } from '../objects/names';
import { forgetTokens, hashToken, newTokenSecret } from '../worker/auth';
import { readJson } from '../worker/validate';
import { define, type App } from './define';

export function tokenRoutes(app: App) {
  define(app, 'post', '/v1/tokens', {
    summary: 'Issue a token with permissions (the secret is in this answer only)', tags: ['tokens'],
    body: TokenCreate, ok: { status: 201, schema: TokenCreated }, errors: [409],
  }, async (c) => {
    const body = await readJson(c, TokenCreate);
    const token = newTokenSecret();
    const rec = unwrap(await nameServer(c.env).createToken(body.name, await hashToken(token), body.permissions));
    return c.json({ ...rec, token }, 201);
  });

  define(app, 'get', '/v1/tokens', {
    summary: 'List issued tokens (without their secrets)', tags: ['tokens'],
    ok: { status: 200, schema: z.object({ tokens: z.array(TokenInfo) }) },
  }, async (c) => c.json({ tokens: await nameServer(c.env).listTokens() }));

  define(app, 'delete', '/v1/tokens/{name}', {
    summary: 'Revoke a token, at once', tags: ['tokens'], params: { name: 'token name' },
    ok: { status: 204, description: 'revoked' }, errors: [404],
  }, async (c) => {
    const name = c.req.param('name') ?? '';
    const gone = await nameServer(c.env).revokeToken(name);
    forgetTokens();
    if (!gone) throw new ApiError('TOKEN_NOT_FOUND', `no token named "${name.slice(0, 64)}"`);
    return c.body(null, 204);
  });
}
