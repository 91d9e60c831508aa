/**
 * The SDK's types, inferred from the schemas the server validates with (src/model/schemas.ts):
 * `z.input` for what you send (defaults may be left out), `z.infer` for what comes back.
 */
import type { z } from 'zod';
import type { ClientFrame as ClientFrameSchema } from '../model/frames';
import type * as S from '../model/schemas';

// ---- topics ----
export type TopicType = z.infer<typeof S.TopicType>;
export type TopicCreateInput = z.input<typeof S.TopicCreate>;
export type TopicPatch = z.input<typeof S.TopicPatch>;
export type Topic = z.infer<typeof S.Topic>;
export type TopicDetail = z.infer<typeof S.TopicDetail>;
export type QueueStatus = z.infer<typeof S.QueueStatus>;
export type TopicSummary = z.infer<typeof S.TopicList>['topics'][number];

// ---- messages ----
export type Encoding = z.infer<typeof S.Encoding>;
/** A message as sent. */
export type MessageInput = z.input<typeof S.MessageInput>;
/** One message of a produce answer, in request order. */
export type SendResult = z.infer<typeof S.ProduceResult>['messages'][number];
/** A message as stored and read. */
export type Message = z.infer<typeof S.Message>;
/** A message as delivered to a consumer: it always has its attempt and receipt handle. */
export type ReceivedMessage = Message & { deliveryAttempt: number; receiptHandle: string };

// ---- groups and consuming ----
export type GroupMode = z.infer<typeof S.GroupMode>;
export type GroupConfigInput = z.input<typeof S.GroupPut>;
export type Group = z.infer<typeof S.GroupConfig>;
export type GroupDetail = z.infer<typeof S.GroupDetail>;
export type GroupQueue = z.infer<typeof S.GroupQueue>;
export type GroupSummary = z.infer<typeof S.GroupList>['groups'][number];
export type ConsumeFrom = z.input<typeof S.ConsumeFrom>;
export type RetryPolicy = z.input<typeof S.RetryPolicy>;
export type ResetTarget = z.input<typeof S.ResetTarget>;
export type ResetOffsetResult = z.infer<typeof S.ResetOffsetResult>;
/** A tag expression (`"*"`, `"a || b"`) or `{ sql }` over properties and tag. */
export type Filter = z.input<typeof S.Filter>;
export type ReceiveRequest = z.input<typeof S.Receive>;
export type AckResult = z.infer<typeof S.AckResult>['results'][number];
export type AckStatus = AckResult['status'];
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

// ---- transactions ----
export type TransactionOptions = Omit<z.input<typeof S.TxCreate>, 'messages'>;
export type TransactionCreated = z.infer<typeof S.TxCreated>;
export type TransactionResolved = z.infer<typeof S.TxResolved>;
/** What the broker POSTs to `checkUrl` for an unresolved transaction (API.md "Transactions"). */
export interface TransactionCheck { topic: string; transactionId: string; messageIds: string[]; checkTimes: number }
export type TransactionDecision = 'COMMIT' | 'ROLLBACK' | 'UNKNOWN';

// ---- tokens ----
export type Action = z.infer<typeof S.Action>;
export type Permission = z.input<typeof S.Permission>;
export type TokenCreateInput = z.input<typeof S.TokenCreate>;
export type TokenInfo = z.infer<typeof S.TokenInfo>;
export type TokenCreated = z.infer<typeof S.TokenCreated>;

export type ErrorBody = z.infer<typeof S.ErrorSchema>;

// ---- shapes API.md gives that src/model/schemas.ts has no schema for yet ----
// (query, trace, DLQ, cluster, stats: when the server adds schemas, infer these from them)

export type MessageState = 'SCHEDULED' | 'HALF' | 'STORED' | 'RECALLED';
export type GroupMessageStatus = 'NOT_CONSUMED_YET' | 'INFLIGHT' | 'RETRYING' | 'CONSUMED' | 'FILTERED' | 'DLQ';
/** `GET /v1/topics/{topic}/messages/{messageId}` */
export type MessageDetail = Message & {
  state: MessageState;
  groups: { group: string; status: GroupMessageStatus | (string & {}) }[];
};
/** What to look for: by key, by position in one queue, or by store time (epoch ms). */
export type MessageQuery = { key: string } | { queueId: number; offset?: number } | { start?: number; end?: number };
export interface MessagePage { messages: Message[]; cursor?: string }
export type TraceEventType = 'PUBLISHED' | 'SCHEDULED' | 'COMMITTED' | 'ROLLED_BACK' | 'CHECKED' | 'DELIVERED'
  | 'ACKED' | 'NACKED' | 'EXPIRED' | 'DEAD_LETTERED' | 'RECALLED' | 'RESENT';
export interface TraceEvent {
  type: TraceEventType | (string & {});
  at: number;
  group?: string;
  consumerId?: string;
  deliveryAttempt?: number;
  [field: string]: unknown;
}
/** A dead letter as `GET /v1/groups/{group}/dlq` lists it (the server's extension of API.md). */
export type DeadLetter = Message & { resent?: unknown };
export interface DeadLetterPage { messages: DeadLetter[]; cursor?: string }
/** `POST /v1/groups/{group}/dlq/resend`: what was resent (each dead letter's id, where it went, its new id) and what was not. */
export interface DlqResendResult {
  resent: { messageId: string; topic?: string; newMessageId?: string }[];
  failed?: { messageId: string; reason: string }[];
  [field: string]: unknown;
}
export interface BrokerInfo {
  topic: string; queueId: number; messages: number; bytes: number; lastActive: number | null;
  produceTps: number; consumeTps: number; [field: string]: unknown;
}
export interface ClusterView { brokers: BrokerInfo[]; totals?: Record<string, number>; [field: string]: unknown }
export interface StatsQuery { topic?: string; group?: string; minutes?: number }
export interface Stats {
  series: { minute: number; produced: number; consumed: number; lag: number | null }[];
  [field: string]: unknown;
}
