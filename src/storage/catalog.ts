/** The NameServer's catalog: topics (with their incarnations), groups and subscriptions. */
import { newIncarnation } from '../model/ids';
import { LIMITS } from '../model/limits';
import type { GroupConfig, TopicConfig } from '../model/schemas';
import type { TopicRoute } from '../objects/names';

export type TopicInit = Omit<TopicConfig, 'createdAt'>;
export type GroupInit = Partial<Omit<GroupConfig, 'name' | 'createdAt'>>;

export const GROUP_DEFAULTS: Omit<GroupConfig, 'name' | 'createdAt'> = {
  mode: 'CLUSTERING', consumeFrom: 'FIRST', maxRetries: LIMITS.maxRetriesDefault,
  retryPolicy: { type: 'CUSTOMIZED' }, invisibleMs: LIMITS.invisibleMsDefault,
};

export interface Subscription { topic: string; filter: string | null; updatedAt: number }

export class Catalog {
  constructor(private sql: SqlStorage) {}

  topic(name: string): TopicRoute | null {
    const r = this.sql.exec<{ config: string }>('SELECT config FROM topics WHERE name = ?', name).toArray()[0];
    return r ? JSON.parse(r.config) : null;
  }

  topics(): TopicRoute[] {
    return this.sql.exec<{ config: string }>('SELECT config FROM topics ORDER BY name').toArray().map((r) => JSON.parse(r.config));
  }

  createTopic(init: TopicInit, now: number): TopicRoute | null {
    if (this.topic(init.name)) return null;
    const t: TopicRoute = { ...init, createdAt: now, incarnation: newIncarnation(), dedupQueues: init.queues };
    this.sql.exec('INSERT INTO topics (name, incarnation, config, created_at) VALUES (?, ?, ?, ?)',
      t.name, t.incarnation, JSON.stringify(t), now);
    return t;
  }

  updateTopic(t: TopicRoute): void {
    this.sql.exec('UPDATE topics SET config = ? WHERE name = ?', JSON.stringify(t), t.name);
  }

  deleteTopic(name: string): TopicRoute | null {
    const t = this.topic(name);
    if (!t) return null;
    this.sql.exec('DELETE FROM topics WHERE name = ?', name);
    this.sql.exec('DELETE FROM subscriptions WHERE topic = ?', name);
    return t;
  }

  group(name: string): GroupConfig | null {
    const r = this.sql.exec<{ config: string }>('SELECT config FROM groups WHERE name = ?', name).toArray()[0];
    return r ? JSON.parse(r.config) : null;
  }

  groups(): GroupConfig[] {
    return this.sql.exec<{ config: string }>('SELECT config FROM groups ORDER BY name').toArray().map((r) => JSON.parse(r.config));
  }

  /** Creates the group with defaults, or applies `patch` to it. */
  putGroup(name: string, patch: GroupInit, now: number): { group: GroupConfig; created: boolean } {
    const old = this.group(name);
    const g: GroupConfig = { ...GROUP_DEFAULTS, ...(old ?? {}), ...stripUndefined(patch), name, createdAt: old?.createdAt ?? now };
    this.sql.exec('INSERT OR REPLACE INTO groups (name, config, created_at) VALUES (?, ?, ?)', name, JSON.stringify(g), g.createdAt);
    return { group: g, created: !old };
  }

  deleteGroup(name: string): Subscription[] | null {
    if (!this.group(name)) return null;
    const subs = this.subscriptions(name);
    this.sql.exec('DELETE FROM groups WHERE name = ?', name);
    this.sql.exec('DELETE FROM subscriptions WHERE grp = ?', name);
    return subs;
  }

  subscribe(group: string, topic: string, filter: string | null, now: number): void {
    this.sql.exec('INSERT OR REPLACE INTO subscriptions (grp, topic, filter, updated_at) VALUES (?, ?, ?, ?)', group, topic, filter, now);
  }

  /** The groups subscribed to a topic, with their mode and filter. */
  subscribers(topic: string): { group: string; mode: string; filter: string | null }[] {
    return this.sql.exec<{ grp: string; filter: string | null; config: string }>(
      'SELECT s.grp, s.filter, g.config FROM subscriptions s JOIN groups g ON g.name = s.grp WHERE s.topic = ? ORDER BY s.grp', topic,
    ).toArray().map((r) => ({ group: r.grp, filter: r.filter, mode: (JSON.parse(r.config) as GroupConfig).mode }));
  }

  subscriptions(group: string): Subscription[] {
    return this.sql.exec<{ topic: string; filter: string | null; updated_at: number }>(
      'SELECT topic, filter, updated_at FROM subscriptions WHERE grp = ? ORDER BY topic', group,
    ).toArray().map((r) => ({ topic: r.topic, filter: r.filter, updatedAt: r.updated_at }));
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
