/** Exit codes, and how a failure is told to a person (or, with --json, to a script on stderr). */
import { EdgeMQError } from '../client/errors';
import { UsageError } from './args';
import type { Output } from './output';

export const EXIT = {
  OK: 0,
  /** the server refused or failed the request (other 4xx, 5xx) */
  FAILED: 1,
  /** a wrong command, option or value */
  USAGE: 2,
  /** the server could not be reached, or did not answer in time */
  UNREACHABLE: 3,
  /** 401 or 403: no token, a wrong one, or a missing permission */
  AUTH: 4,
  /** 404: no such topic, group, message or token */
  NOT_FOUND: 5,
  /** 409: it exists already, or was resolved already */
  CONFLICT: 6,
  /** Ctrl-C */
  INTERRUPTED: 130,
} as const;

export const EXIT_HELP = 'Exit codes: 0 ok, 1 request failed, 2 usage error, 3 server unreachable, 4 unauthorized or forbidden,\n5 not found, 6 conflict (already exists), 130 interrupted.';

function codeOf(e: EdgeMQError): number {
  if (e.code === 'NETWORK_ERROR' || e.code === 'TIMEOUT') return EXIT.UNREACHABLE;
  if (e.code === 'ABORTED') return EXIT.INTERRUPTED;
  if (e.status === 401 || e.status === 403) return EXIT.AUTH;
  if (e.status === 404) return EXIT.NOT_FOUND;
  if (e.status === 409) return EXIT.CONFLICT;
  return EXIT.FAILED;
}

function hint(e: EdgeMQError, url: string): string | undefined {
  if (e.code === 'NETWORK_ERROR' || e.code === 'TIMEOUT') {
    return `Is the server running at ${url}? Start one locally with \`npm start\`, or give its address with --url or EDGEMQ_URL.`;
  }
  if (e.status === 401) return 'Give a token with --token or EDGEMQ_TOKEN.';
  if (e.status === 403) return 'The token lacks a permission for this; an admin can issue one with `edgemq token create`.';
  if (e.code === 'NOT_FOUND' && /^no route for/.test(e.message)) return 'This server does not know this endpoint: is it an older edgemq, or is --url pointing elsewhere?';
  if (e.code === 'OVERLOADED') return 'The server is busy; try again in a moment.';
  return undefined;
}

/** Prints the failure and answers the exit code. */
export function report(e: unknown, out: Output, ctx: { json: boolean; url: string }): number {
  if (e instanceof UsageError) {
    if (ctx.json) out.stderr.write(`${JSON.stringify({ error: { code: 'USAGE', message: e.message } })}\n`);
    else out.note(`edgemq: ${e.message}\n${e.help}`);
    return EXIT.USAGE;
  }
  if (e instanceof EdgeMQError) {
    const code = codeOf(e);
    if (code === EXIT.INTERRUPTED) return code;
    if (ctx.json) out.stderr.write(`${JSON.stringify(e.toJSON())}\n`);
    else {
      const h = hint(e, ctx.url);
      out.note(`edgemq: ${e.message} (${e.code}${e.status ? `, HTTP ${e.status}` : ''})${h ? `\n${h}` : ''}`);
    }
    return code;
  }
  const err = e as Error;
  out.note(`edgemq: unexpected failure: ${err?.stack ?? String(e)}\nPlease report this with the command you ran.`);
  return EXIT.FAILED;
}
