/** edgemq token create|list|revoke */
import type { Action, Permission } from '../client/types';
import { list, UsageError, type Command, type Context } from './args';
import { when } from './output';
import { admin } from './session';

const ACTIONS: readonly Action[] = ['PUB', 'SUB', 'ADMIN'];

/** `topic:orders=PUB,SUB` */
function permission(s: string, ctx: Context): Permission {
  const m = /^((?:topic|group):[^=]+)=(.+)$/i.exec(s.trim());
  const actions = m?.[2].split(',').map((a) => a.trim().toUpperCase());
  if (!m || !actions?.every((a) => (ACTIONS as readonly string[]).includes(a))) {
    throw new UsageError(`--allow must be RESOURCE=ACTIONS like topic:orders=PUB,SUB or group:*=ADMIN (got '${s}'); actions are PUB, SUB, ADMIN`, ctx.help);
  }
  return { resource: m[1], actions: actions as Action[] };
}

const perms = (ps: Permission[]) => ps.map((p) => `${p.resource}=${p.actions.join(',')}`).join(' ');

export const tokenCommands: Command[] = [
  {
    path: ['token', 'create'],
    summary: 'Issue a token with permissions (its secret is shown once)',
    description: 'Producing needs PUB on the topic; consuming needs SUB on the topic and on the group;\n'
      + 'everything else needs ADMIN. ADMIN implies PUB and SUB. `*` means every topic or group.',
    args: [{ name: 'name', required: true, description: 'a name for the token: 1-64 of A-Z a-z 0-9 _ . -' }],
    options: { allow: { type: 'string', short: 'a', multiple: true, value: '<resource=actions>', description: 'a permission, e.g. topic:orders=PUB,SUB or group:billing=SUB' } },
    examples: [
      'edgemq token create order-service --allow topic:orders=PUB',
      'edgemq token create billing --allow topic:orders=SUB --allow group:billing=SUB',
      'edgemq token create ops --allow "topic:*=ADMIN" --allow "group:*=ADMIN"',
    ],
    async run(ctx) {
      const allow = list(ctx, 'allow');
      if (!allow.length) throw new UsageError('a token needs at least one --allow RESOURCE=ACTIONS, e.g. --allow topic:orders=PUB', ctx.help);
      const t = await admin(ctx).createToken(ctx.args[0], allow.map((a) => permission(a, ctx)));
      if (ctx.json) return ctx.out.json(t);
      ctx.out.kv([['name', t.name], ['permissions', perms(t.permissions)], ['token', t.token]]);
      ctx.out.note('keep the token now: it is not shown again (the server stores only its hash)');
    },
  },
  {
    path: ['token', 'list'],
    summary: 'List issued tokens (without their secrets)',
    args: [],
    options: {},
    examples: ['edgemq token list'],
    async run(ctx) {
      const tokens = await admin(ctx).listTokens();
      if (ctx.json) return ctx.out.json({ tokens });
      ctx.out.table(['NAME', 'PERMISSIONS', 'CREATED'], tokens.map((t) => [t.name, perms(t.permissions), when(t.createdAt)]), { empty: 'no tokens issued' });
    },
  },
  {
    path: ['token', 'revoke'],
    summary: 'Revoke a token, at once',
    args: [{ name: 'name', required: true, description: 'the token name' }],
    options: {},
    examples: ['edgemq token revoke order-service'],
    async run(ctx) {
      await admin(ctx).revokeToken(ctx.args[0]);
      if (ctx.json) return ctx.out.json({ revoked: ctx.args[0] });
      ctx.out.note(`revoked token ${ctx.args[0]}`);
    },
  },
];
