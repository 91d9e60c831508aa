/**
 * The route table as this isolate knows it: topics and groups from the NameServer, kept for a
 * few seconds so that the hot paths (produce, receive, ack) make no NameServer call. A broker
 * that answers TOPIC_NOT_FOUND (the topic was deleted) drops the entry at once.
 */
import type { Env } from '../env';
import { ApiError } from '../model/errors';
import type { GroupConfig } from '../model/schemas';
import { nameServer, type TopicRoute } from '../objects/names';

const TTL_MS = 5000;

interface Entry<T> { value: T; at: number }
const topics = new Map<string, Entry<TopicRoute>>();
const groups = new Map<string, Entry<GroupConfig>>();
const subscribed = new Map<string, number>();

function fresh<T>(m: Map<string, Entry<T>>, k: string): T | undefined {
  const e = m.get(k);
  if (e && Date.now() - e.at < TTL_MS) return e.value;
  return undefined;
}

export async function findTopic(env: Env, name: string): Promise<TopicRoute | null> {
  const hit = fresh(topics, name);
  if (hit) return hit;
  const t = await nameServer(env).getTopic(name);
  if (t) topics.set(name, { value: t, at: Date.now() }); else topics.delete(name);
  return t;
}

export async function topicOr404(env: Env, name: string): Promise<TopicRoute> {
  const t = await findTopic(env, name);
  if (!t) throw new ApiError('TOPIC_NOT_FOUND', `topic "${name}" does not exist: create it with POST /v1/topics`);
  return t;
}

export function rememberTopic(t: TopicRoute): void { topics.set(t.name, { value: t, at: Date.now() }); }
export function forgetTopic(name: string): void { topics.delete(name); }

/** The group's config; a group used before it was created is created with the defaults. */
export async function groupFor(env: Env, name: string): Promise<GroupConfig> {
  const hit = fresh(groups, name);
  if (hit) return hit;
  const g = await nameServer(env).ensureGroup(name);
  groups.set(name, { value: g, at: Date.now() });
  return g;
}

/** The group's config if it exists, without creating it (for calls a new group cannot answer). */
export async function findGroup(env: Env, name: string): Promise<GroupConfig | null> {
  const hit = fresh(groups, name);
  if (hit) return hit;
  const g = await nameServer(env).getGroup(name);
  if (g) groups.set(name, { value: g, at: Date.now() });
  return g;
}

export function rememberGroup(g: GroupConfig): void { groups.set(g.name, { value: g, at: Date.now() }); }
export function forgetGroup(name: string): void {
  groups.delete(name);
  for (const k of subscribed.keys()) if (k.startsWith(`${name}\u0000`)) subscribed.delete(k);
}

/** Records the group's subscription to the topic (once a minute per isolate at most). */
export async function subscribe(env: Env, group: string, topic: string, filter: string | null): Promise<void> {
  const k = `${group}\u0000${topic}\u0000${filter ?? ''}`;
  const at = subscribed.get(k);
  if (at && Date.now() - at < 60_000) return;
  await nameServer(env).subscribe(group, topic, filter);
  subscribed.set(k, Date.now());
}
