/** Request parsing and validation shared by every route: one place, one error shape. */
import type { Context } from 'hono';
import type { z } from '@hono/zod-openapi';
import { ApiError } from '../model/errors';
import { LIMITS } from '../model/limits';
import { DLQ_PREFIX } from '../objects/names';

/** "messages[3].tag: Too big: expected string to have <=128 characters" */
export function describeIssues(err: z.ZodError): string {
  return err.issues.slice(0, 5).map((i) => {
    const path = i.path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '');
    if (i.code === 'unrecognized_keys') {
      const keys = (i as unknown as { keys: string[] }).keys.map((k) => `"${k}"`).join(', ');
      return `${path ? `${path}: ` : ''}unknown field${keys.includes(',') ? 's' : ''} ${keys}`;
    }
    return `${path || 'body'}: ${i.message}`;
  }).join('; ');
}

/**
 * Whether parsed JSON nests objects or arrays more than `max` levels deep (the value itself is
 * level 1). Recursive but bounded: it stops at level max + 1, so a hostile 1 MB of "[[[[" cannot
 * overflow the stack; and it allocates nothing (the batch path calls it on every request).
 */
export function deeperThan(v: unknown, max: number): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (max < 1) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) { const y: unknown = v[i]; if (y !== null && typeof y === 'object' && deeperThan(y, max - 1)) return true; }
    return false;
  }
  for (const k in v) { const y = (v as Record<string, unknown>)[k]; if (y !== null && typeof y === 'object' && deeperThan(y, max - 1)) return true; }
  return false;
}

export function parseJsonText(text: string): unknown {
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) {
    throw new ApiError('BAD_REQUEST', `the request body is not valid JSON (${(e as Error).message})`);
  }
  if (deeperThan(v, LIMITS.jsonDepthMax + 4)) throw new ApiError('BAD_REQUEST', `the request body is nested deeper than ${LIMITS.jsonDepthMax} levels`);
  return v;
}

export function check<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ApiError('BAD_REQUEST', describeIssues(r.error));
  return r.data;
}

/**
 * The JSON body validated by `schema`. Any Content-Type is read as JSON (curl -d sends a form
 * type); an empty body is `{}` so that all-optional bodies may be left out.
 */
export async function readJson<T extends z.ZodTypeAny>(c: Context, schema: T): Promise<z.infer<T>> {
  const text = await c.req.text();
  return check(schema, text.trim() === '' ? {} : parseJsonText(text));
}

export function topicParam(c: Context, opts: { system?: boolean } = {}): string {
  const name = c.req.param('topic') ?? '';
  // the schemas' own patterns, tested directly: every request names a topic
  if (LIMITS.topicName.test(name)) return name;
  if (opts.system && name.startsWith(DLQ_PREFIX) && LIMITS.groupName.test(name.slice(DLQ_PREFIX.length))) return name;
  throw new ApiError('INVALID_NAME', `topic name "${name.slice(0, 140)}" is invalid: use 1-127 of A-Z a-z 0-9 _ -`);
}

export function groupParam(c: Context): string {
  const name = c.req.param('group') ?? '';
  if (LIMITS.groupName.test(name)) return name;
  throw new ApiError('INVALID_NAME', `group name "${name.slice(0, 140)}" is invalid: use 1-120 of A-Z a-z 0-9 _ -`);
}
