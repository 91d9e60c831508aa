/**
 * Admin: topics, consumer groups and their offsets, message query and trace, dead letters,
 * tokens, and the cluster view. Needs a token with ADMIN on what it touches.
 */
import { LIMITS } from '../model/limits';
import { EdgeMQError } from './errors';
import { HttpClient, seg, type ClientOptions } from './http';
import type {
  ClusterView, DeadLetterPage, DlqResendResult, Group, GroupConfigInput, GroupDetail, GroupSummary, Message, MessageDetail, MessagePage,
  MessageQuery, Permission, ResetOffsetResult, ResetTarget, Stats, StatsQuery, TokenCreated, TokenInfo, Topic,
  TopicCreateInput, TopicDetail, TopicPatch, TopicSummary, TraceEvent,
} from './types';

/** The dead-letter topic of a group. */
export const dlqTopic = (group: string) => `%DLQ%${group}`;

export interface PageOptions { limit?: number; cursor?: string; signal?: AbortSignal }

export class Admin {
  readonly http: HttpClient;

  constructor(opts: ClientOptions) {
    this.http = new HttpClient(opts);
  }

  /** Liveness: `{ status: "ok", time }`. */
  health(): Promise<{ status: 'ok'; time: number }> { return this.http.get('/v1/health'); }

  /** The OpenAPI 3.1 document of every HTTP endpoint. */
  openapi(): Promise<Record<string, unknown>> { return this.http.get('/v1/openapi.json'); }

  // ---- topics ----

  /** Creates a topic (409 TOPIC_EXISTS if it is there). */
  createTopic(input: TopicCreateInput): Promise<Topic> {
    return this.http.post('/v1/topics', input, { retry: 'busy' });
  }

  async listTopics(): Promise<TopicSummary[]> {
    return (await this.http.get<{ topics: TopicSummary[] }>('/v1/topics')).topics;
  }

  /** The config plus each queue's offsets and size. */
  getTopic(name: string): Promise<TopicDetail> { return this.http.get(`/v1/topics/${seg(name)}`); }

  /** Changes retention, size limit or dedup window, or grows the queues. */
  updateTopic(name: string, patch: TopicPatch): Promise<Topic> { return this.http.patch(`/v1/topics/${seg(name)}`, patch); }

  /** Deletes a topic and all of its messages. */
  async deleteTopic(name: string): Promise<void> { await this.http.delete(`/v1/topics/${seg(name)}`); }

  // ---- groups ----

  /** Creates or updates a consumer group. */
  putGroup(name: string, config: GroupConfigInput = {}): Promise<Group> { return this.http.put(`/v1/groups/${seg(name)}`, config); }

  async listGroups(): Promise<GroupSummary[]> {
    return (await this.http.get<{ groups: GroupSummary[] }>('/v1/groups')).groups;
  }

  /** Config, subscriptions, live consumers and per-queue offsets and lag. */
  getGroup(name: string): Promise<GroupDetail> { return this.http.get(`/v1/groups/${seg(name)}`); }

  async deleteGroup(name: string): Promise<void> { await this.http.delete(`/v1/groups/${seg(name)}`); }

  /** Moves the group on a topic to EARLIEST, LATEST, `{ timestamp }` or `{ queueId, offset }`. */
  resetOffset(group: string, topic: string, to: ResetTarget): Promise<ResetOffsetResult> {
    return this.http.post(`/v1/groups/${seg(group)}/reset-offset`, { topic, to }, { retry: 'safe' });
  }

  // ---- messages ----

  /** A message with its state and its status in each subscribed group (404 MESSAGE_NOT_FOUND). */
  getMessage(topic: string, messageId: string): Promise<MessageDetail> {
    return this.http.get(`/v1/topics/${seg(topic)}/messages/${seg(messageId)}`);
  }

  /** One page of messages by key, by queue position, or by store time; pass `cursor` for the next. */
  queryMessages(topic: string, query: MessageQuery, page: PageOptions = {}): Promise<MessagePage> {
    return this.http.get(`/v1/topics/${seg(topic)}/messages`, { query: { ...queryParams(query), limit: page.limit, cursor: page.cursor }, signal: page.signal });
  }

  /** Every message the query finds, page after page. */
  async *queryAll(topic: string, query: MessageQuery, page: Omit<PageOptions, 'cursor'> = {}): AsyncGenerator<Message> {
    let cursor: string | undefined;
    do {
      const r = await this.queryMessages(topic, query, { limit: page.limit ?? LIMITS.batchMessagesMax, signal: page.signal, cursor });
      yield* r.messages;
      cursor = r.messages.length ? r.cursor : undefined;
    } while (cursor);
  }

  /** The life of a message, oldest first: PUBLISHED, DELIVERED, ACKED, ... */
  async trace(topic: string, messageId: string): Promise<TraceEvent[]> {
    return (await this.http.get<{ events: TraceEvent[] }>(`/v1/topics/${seg(topic)}/messages/${seg(messageId)}/trace`)).events;
  }

  /** Delivers a copy of a stored message again, to one consumer group only. */
  resendMessage(topic: string, messageId: string, group: string): Promise<{ messageId: string; group: string }> {
    return this.http.post(`/v1/topics/${seg(topic)}/messages/${seg(messageId)}/resend`, { group }, { retry: 'busy' });
  }

  /** Recalls a scheduled message that is not yet due. */
  async recall(topic: string, messageId: string): Promise<void> {
    await this.http.delete(`/v1/topics/${seg(topic)}/messages/${seg(messageId)}`);
  }

  // ---- dead letters ----

  /** The group's dead letters (topic `%DLQ%{group}`), oldest first; none when it has never dead-lettered. */
  async listDeadLetters(group: string, page: PageOptions = {}): Promise<DeadLetterPage> {
    try {
      return await this.http.get<DeadLetterPage>(`/v1/groups/${seg(group)}/dlq`, { query: { limit: page.limit, cursor: page.cursor }, signal: page.signal });
    } catch (e) {
      if (!(e instanceof EdgeMQError && e.code === 'NOT_FOUND')) throw e;
    }
    // a server without that listing: the dead-letter topic itself, by store time
    try {
      return await this.queryMessages(dlqTopic(group), { start: 0, end: Date.now() + 60_000 }, page);
    } catch (e) {
      if (e instanceof EdgeMQError && e.code === 'TOPIC_NOT_FOUND') return { messages: [] };
      throw e;
    }
  }

  /** Puts dead letters back on their origin topic for the group: these ids, or all of them. */
  resendDeadLetters(group: string, messageIds?: string[]): Promise<DlqResendResult> {
    return this.http.post(`/v1/groups/${seg(group)}/dlq/resend`, messageIds ? { messageIds } : {}, { retry: 'busy' });
  }

  // ---- tokens ----

  /** Issues a token; its secret is in this answer only. */
  createToken(name: string, permissions: Permission[]): Promise<TokenCreated> {
    return this.http.post('/v1/tokens', { name, permissions }, { retry: 'busy' });
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.http.get<{ tokens: TokenInfo[] }>('/v1/tokens')).tokens;
  }

  /** Revokes a token, at once. */
  async revokeToken(name: string): Promise<void> { await this.http.delete(`/v1/tokens/${seg(name)}`); }

  // ---- cluster and stats ----

  /** Every broker (one per topic queue) with its size and rates, and totals. */
  cluster(): Promise<ClusterView> { return this.http.get('/v1/cluster'); }

  /** Per-minute series of produced, consumed and lag. */
  stats(q: StatsQuery = {}): Promise<Stats> { return this.http.get('/v1/stats', { query: { ...q } }); }
}

function queryParams(q: MessageQuery): Record<string, string | number | undefined> {
  if ('key' in q) return { key: q.key };
  if ('queueId' in q) return { queueId: q.queueId, offset: q.offset ?? 0 };
  return { start: q.start, end: q.end };
}
