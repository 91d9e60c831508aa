/**
 * The request and response schemas of the public API. They validate requests in the routes,
 * generate /v1/openapi.json, and give the SDK its types: one definition, used everywhere.
 */
import { z } from '@hono/zod-openapi';
import { LIMITS } from './limits';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const TopicName = z.string().regex(LIMITS.topicName, 'must match ^[A-Za-z0-9_-]{1,127}$');
export const GroupName = z.string().regex(LIMITS.groupName, 'must match ^[A-Za-z0-9_-]{1,120}$');
export const TopicType = z.enum(['NORMAL', 'FIFO', 'DELAY', 'TRANSACTION', 'MIXED']);
export type TopicType = z.infer<typeof TopicType>;

export const TopicCreate = z.object({
  name: TopicName,
  queues: int(1, LIMITS.queuesMax).default(4),
  type: TopicType.default('MIXED'),
  retentionHours: int(1, LIMITS.retentionHoursMax).default(LIMITS.retentionHoursDefault),
  maxMessageBytes: int(1, LIMITS.maxMessageBytesMax).default(LIMITS.maxMessageBytesDefault),
  dedupWindowMs: int(0, LIMITS.dedupWindowMsMax).default(LIMITS.dedupWindowMsDefault),
  trace: z.boolean().default(true).openapi({ description: 'record message trace events (see docs/operations.md for the cost)' }),
}).strict().openapi('TopicCreate');

export const TopicPatch = z.object({
  queues: int(1, LIMITS.queuesMax).optional(),
  retentionHours: int(1, LIMITS.retentionHoursMax).optional(),
  maxMessageBytes: int(1, LIMITS.maxMessageBytesMax).optional(),
  dedupWindowMs: int(0, LIMITS.dedupWindowMsMax).optional(),
  trace: z.boolean().optional(),
}).strict().openapi('TopicPatch');

export const Topic = z.object({
  name: z.string(), queues: z.number().int(), type: TopicType, retentionHours: z.number().int(),
  maxMessageBytes: z.number().int(), dedupWindowMs: z.number().int(), trace: z.boolean().optional(), createdAt: z.number().int(),
}).openapi('Topic');
export type TopicConfig = z.infer<typeof Topic>;

export const QueueStatus = z.object({
  queueId: z.number().int(), minOffset: z.number().int(), maxOffset: z.number().int(),
  lastStoreTimestamp: z.number().int().nullable(), messages: z.number().int(), bytes: z.number().int(),
}).openapi('QueueStatus');

export const TopicDetail = Topic.extend({
  messages: z.number().int(), bytes: z.number().int(), queueStatus: z.array(QueueStatus),
}).openapi('TopicDetail');

export const TopicList = z.object({
  topics: z.array(z.object({
    name: z.string(), queues: z.number().int(), type: TopicType, messages: z.number().int(), bytes: z.number().int(),
  })),
}).openapi('TopicList');

export const Encoding = z.enum(['text', 'json', 'base64']);
export type Encoding = z.infer<typeof Encoding>;

export const MessageInput = z.object({
  body: z.any().openapi({ description: 'a string, or any JSON value' }),
  encoding: Encoding.optional(),
  tag: z.string().max(LIMITS.tagChars).refine((t) => !t.includes('|'), 'must not contain "|"').optional(),
  keys: z.array(z.string().min(1).max(LIMITS.keyChars)).max(LIMITS.keysMax).optional(),
  properties: z.record(z.string().min(1).max(1024), z.string())
    .refine((p) => Object.keys(p).length <= LIMITS.propertiesMax, `at most ${LIMITS.propertiesMax} entries`)
    .optional(),
  messageGroup: z.string().min(1).max(LIMITS.messageGroupChars).optional(),
  deliverAt: z.number().int().min(0).optional(),
  delayMs: int(0, LIMITS.maxDelayMs).optional(),
  dedupId: z.string().min(1).max(LIMITS.dedupIdChars).optional(),
}).strict().openapi('MessageInput');
export type MessageInput = z.infer<typeof MessageInput>;

/**
 * True when every entry is `{"body": <any JSON value>}` and nothing else. MessageInput makes of
 * such a message exactly itself, so the produce paths skip zod's walk of each one (a sixth of the
 * produce channel's CPU with 256 B messages); any other message goes through the schema.
 */
export function bodyOnly(ms: unknown[]): ms is MessageInput[] {
  for (const m of ms) {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
    let n = 0;
    for (const k in m) { if (k !== 'body') return false; n++; }
    if (n !== 1) return false;
  }
  return true;
}

export const ProduceBatch = z.object({ messages: z.array(MessageInput).min(1) }).strict().openapi('ProduceBatch');

export const ProduceResult = z.object({
  messages: z.array(z.object({
    messageId: z.string(), queueId: z.number().int(), queueOffset: z.number().int().nullable(),
    duplicate: z.boolean().optional(),
  })),
}).openapi('ProduceResult');

export const Message = z.object({
  messageId: z.string(), topic: z.string(), queueId: z.number().int(), queueOffset: z.number().int().nullable(),
  body: z.any(), encoding: Encoding, tag: z.string().optional(), keys: z.array(z.string()).optional(),
  properties: z.record(z.string(), z.string()).optional(), messageGroup: z.string().optional(),
  bornTimestamp: z.number().int(), storeTimestamp: z.number().int(), deliverAt: z.number().int().optional(),
  deliveryAttempt: z.number().int().optional(), receiptHandle: z.string().optional(),
}).openapi('Message');

export const ConsumeFrom = z.union([z.enum(['FIRST', 'LAST']), z.object({ timestamp: z.number().int().min(0) }).strict()]);
export type ConsumeFrom = z.infer<typeof ConsumeFrom>;

export const RetryPolicy = z.discriminatedUnion('type', [
  z.object({ type: z.literal('CUSTOMIZED') }).strict(),
  z.object({
    type: z.literal('EXPONENTIAL'),
    initialMs: int(0, LIMITS.nackDelayMsMax).default(1000),
    maxMs: int(0, LIMITS.nackDelayMsMax).default(7_200_000),
    multiplier: z.number().min(1).max(100).default(2),
  }).strict(),
]);
export type RetryPolicy = z.infer<typeof RetryPolicy>;

export const GroupMode = z.enum(['CLUSTERING', 'BROADCASTING']);
export const GroupPut = z.object({
  mode: GroupMode.optional(),
  consumeFrom: ConsumeFrom.optional(),
  maxRetries: int(0, LIMITS.maxRetriesMax).optional(),
  retryPolicy: RetryPolicy.optional(),
  invisibleMs: int(LIMITS.invisibleMsMin, LIMITS.invisibleMsMax).optional(),
}).strict().openapi('GroupPut');

export const GroupConfig = z.object({
  name: z.string(), mode: GroupMode, consumeFrom: ConsumeFrom, maxRetries: z.number().int(),
  retryPolicy: RetryPolicy, invisibleMs: z.number().int(), createdAt: z.number().int(),
}).openapi('Group');
export type GroupConfig = z.infer<typeof GroupConfig>;

export const GroupQueue = z.object({
  topic: z.string(), queueId: z.number().int(), brokerOffset: z.number().int(), consumerOffset: z.number().int(),
  lag: z.number().int(), inflight: z.number().int(), retrying: z.number().int(),
});
export const GroupDetail = GroupConfig.extend({
  subscriptions: z.array(z.object({ topic: z.string(), filter: z.any().nullable() })),
  consumers: z.array(z.object({
    consumerId: z.string(), transport: z.enum(['ws', 'pull']), topic: z.string(),
    connectedAt: z.number().int().optional(), lastSeen: z.number().int().optional(),
  })),
  queues: z.array(GroupQueue),
  lag: z.number().int(),
}).openapi('GroupDetail');

export const GroupList = z.object({
  groups: z.array(z.object({ name: z.string(), mode: GroupMode, lag: z.number().int(), consumers: z.number().int() })),
}).openapi('GroupList');

export const ResetTarget = z.union([
  z.enum(['EARLIEST', 'LATEST']),
  z.object({ timestamp: z.number().int().min(0) }).strict(),
  z.object({ queueId: int(0, LIMITS.queuesMax - 1), offset: z.number().int().min(0) }).strict(),
]);
export type ResetTarget = z.infer<typeof ResetTarget>;
export const ResetOffset = z.object({ topic: z.string().min(1).max(200), to: ResetTarget }).strict().openapi('ResetOffset');
export const ResetOffsetResult = z.object({
  group: z.string(), topic: z.string(),
  offsets: z.array(z.object({ queueId: z.number().int(), offset: z.number().int() })),
}).openapi('ResetOffsetResult');

export const Filter = z.union([z.string().max(1024), z.object({ sql: z.string().min(1).max(4096) }).strict()]);
export type Filter = z.infer<typeof Filter>;

export const ConsumerId = z.string().regex(LIMITS.groupName, 'must match ^[A-Za-z0-9_-]{1,120}$');
export const Receive = z.object({
  maxMessages: int(1, LIMITS.receiveMaxMessages).default(LIMITS.receiveDefaultMessages),
  invisibleMs: int(LIMITS.invisibleMsMin, LIMITS.invisibleMsMax).optional(),
  waitMs: int(0, LIMITS.receiveWaitMsMax).default(0),
  filter: Filter.optional(),
  consumerId: ConsumerId.optional(),
}).strict().openapi('Receive');

export const Handle = z.string().min(1).max(LIMITS.receiptHandleChars);
export const Ack = z.object({ receiptHandles: z.array(Handle).min(1).max(LIMITS.ackHandlesMax) }).strict().openapi('Ack');
export const Nack = z.object({
  receiptHandles: z.array(Handle).min(1).max(LIMITS.ackHandlesMax),
  delayMs: int(0, LIMITS.nackDelayMsMax).optional(),
}).strict().openapi('Nack');
export const AckResult = z.object({
  results: z.array(z.object({ receiptHandle: z.string(), status: z.enum(['OK', 'EXPIRED', 'INVALID']) })),
}).openapi('AckResult');
export const ChangeInvisibility = z.object({
  receiptHandle: Handle, invisibleMs: int(LIMITS.invisibleMsMin, LIMITS.invisibleMsMax),
}).strict().openapi('ChangeInvisibility');

export const ErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
}).openapi('Error');

export const TxCreate = z.object({
  messages: z.array(MessageInput).min(1),
  checkUrl: z.string().max(2048).url().refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL').optional(),
  checkAfterMs: int(0, 86_400_000).default(6000),
  checkIntervalMs: int(1000, 86_400_000).default(30_000),
  maxChecks: int(1, 100).default(15),
  timeoutMs: int(1000, 7 * 86_400_000).default(60_000),
}).strict().openapi('TransactionCreate');

export const TxCreated = z.object({
  transactionId: z.string(), messages: z.array(z.object({ messageId: z.string() })),
}).openapi('TransactionCreated');

export const TxResolved = z.object({
  transactionId: z.string(), state: z.enum(['COMMITTED', 'ROLLED_BACK']),
}).openapi('TransactionResolved');

export const Action = z.enum(['PUB', 'SUB', 'ADMIN']);
export type Action = z.infer<typeof Action>;
export const Permission = z.object({
  resource: z.string().regex(/^(topic|group):(\*|%DLQ%[A-Za-z0-9_-]{1,120}|[A-Za-z0-9_-]{1,127})$/,
    'must be topic:NAME, topic:*, group:NAME or group:*'),
  actions: z.array(Action).min(1).max(3),
}).strict();
export type Permission = z.infer<typeof Permission>;
export const TokenCreate = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must match ^[A-Za-z0-9_.-]{1,64}$'),
  permissions: z.array(Permission).min(1).max(64),
}).strict().openapi('TokenCreate');
export const TokenInfo = z.object({
  name: z.string(), permissions: z.array(Permission), createdAt: z.number().int(),
}).openapi('Token');
export const TokenCreated = TokenInfo.extend({ token: z.string().openapi({ description: 'shown once' }) }).openapi('TokenCreated');
