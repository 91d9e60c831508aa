/**
 * The one NameServer: the catalog of topics, groups and subscriptions, and so the route table.
 * Workers cache what it answers per isolate (src/worker/routes-cache.ts).
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env';
import { fail, type Failure } from '../model/errors';
import { LIMITS } from '../model/limits';
import type { GroupConfig } from '../model/schemas';
import { Catalog, type GroupInit, type Subscription, type TopicInit } from '../storage/catalog';
import { migrate, NAMESERVER_MIGRATIONS } from '../storage/schema';
import { Tokens, type TokenRecord } from '../storage/tokens';
import type { Permission } from '../model/schemas';
import type { TopicRoute } from './names';

export type TopicPatchInit = Partial<Pick<TopicRoute, 'queues' | 'retentionHours' | 'maxMessageBytes' | 'dedupWindowMs' | 'trace'>>;

export class NameServer extends DurableObject<Env> {
  private catalog: Catalog;
  private tokens: Tokens;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.catalog = new Catalog(ctx.storage.sql);
    this.tokens = new Tokens(ctx.storage.sql);
    ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql, NAMESERVER_MIGRATIONS));
  }

  async createTopic(init: TopicInit): Promise<TopicRoute | Failure> {
    return this.catalog.createTopic(init, Date.now()) ?? fail('TOPIC_EXISTS', `topic "${init.name}" already exists`);
  }

  async getTopic(name: string): Promise<TopicRoute | null> { return this.catalog.topic(name); }
  async listTopics(): Promise<TopicRoute[]> { return this.catalog.topics(); }

  async patchTopic(name: string, patch: TopicPatchInit): Promise<TopicRoute | Failure> {
    const t = this.catalog.topic(name);
    if (!t) return fail('TOPIC_NOT_FOUND', `topic "${name}" does not exist`);
    if (patch.queues !== undefined && patch.queues < t.queues) {
      return fail('BAD_REQUEST', `queues can only grow: topic "${name}" has ${t.queues}, asked for ${patch.queues}`);
    }
    const next: TopicRoute = { ...t };
    for (const [k, v] of Object.entries(patch)) if (v !== undefined) (next as Record<string, unknown>)[k] = v;
    this.catalog.updateTopic(next);
    return next;
  }

  async deleteTopic(name: string): Promise<TopicRoute | null> { return this.catalog.deleteTopic(name); }

  /** System topics (`%DLQ%{group}`) are created on demand with one queue. */
  async ensureSystemTopic(name: string): Promise<TopicRoute> {
    return this.catalog.topic(name) ?? this.catalog.createTopic({
      name, queues: 1, type: 'MIXED', retentionHours: LIMITS.retentionHoursDefault,
      maxMessageBytes: LIMITS.maxMessageBytesMax, dedupWindowMs: LIMITS.dedupWindowMsDefault, trace: true,
    }, Date.now())!;
  }

  async putGroup(name: string, patch: GroupInit): Promise<{ group: GroupConfig; created: boolean }> {
    return this.catalog.putGroup(name, patch, Date.now());
  }

  async getGroup(name: string): Promise<GroupConfig | null> { return this.catalog.group(name); }

  async ensureGroup(name: string): Promise<GroupConfig> {
    return this.catalog.group(name) ?? this.catalog.putGroup(name, {}, Date.now()).group;
  }

  async listGroups(): Promise<{ group: GroupConfig; subscriptions: Subscription[] }[]> {
    return this.catalog.groups().map((group) => ({ group, subscriptions: this.catalog.subscriptions(group.name) }));
  }

  async groupDetail(name: string): Promise<{ group: GroupConfig; subscriptions: Subscription[] } | null> {
    const group = this.catalog.group(name);
    return group ? { group, subscriptions: this.catalog.subscriptions(name) } : null;
  }

  async deleteGroup(name: string): Promise<Subscription[] | null> { return this.catalog.deleteGroup(name); }

  async subscribers(topic: string) { return this.catalog.subscribers(topic); }

  async subscribe(group: string, topic: string, filter: string | null): Promise<void> {
    this.catalog.subscribe(group, topic, filter, Date.now());
  }

  async createToken(name: string, hash: string, permissions: Permission[]): Promise<TokenRecord | Failure> {
    return this.tokens.create(name, hash, permissions, Date.now()) ?? fail('CONFLICT', `a token named "${name}" exists: revoke it first or pick another name`);
  }

  async tokenByHash(hash: string): Promise<TokenRecord | null> { return this.tokens.byHash(hash); }
  async listTokens(): Promise<TokenRecord[]> { return this.tokens.list(); }
  async revokeToken(name: string): Promise<boolean> { return this.tokens.revoke(name); }
}
