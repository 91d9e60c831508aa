/** The shapes of the /v1 answers the dashboard reads (docs: /work/shared/API.md, /v1/openapi.json). */
export type TopicType = 'NORMAL' | 'FIFO' | 'DELAY' | 'TRANSACTION' | 'MIXED';

export interface TopicSummary { name: string; queues: number; type: TopicType; messages: number; bytes: number }
export interface QueueStatus {
  queueId: number; minOffset: number; maxOffset: number; lastStoreTimestamp: number | null; messages?: number; bytes?: number;
}
export interface Topic {
  name: string; queues: number; type: TopicType; retentionHours: number; maxMessageBytes: number; dedupWindowMs: number;
  trace?: boolean; createdAt: number;
}
export interface TopicDetail extends Topic { messages: number; bytes: number; queueStatus: QueueStatus[] }

export interface Broker {
  topic: string; queueId: number; messages: number; bytes: number; lastActive: number | null;
  produceTps: number; consumeTps: number; minOffset?: number; maxOffset?: number; scheduled?: number; connections?: number;
}
export interface Totals {
  topics: number; brokers: number; messages: number; bytes: number; produceTps: number; consumeTps: number; connections?: number;
}
export interface Cluster { nameServer?: { topics: number }; brokers: Broker[]; totals: Totals }
export interface StatPoint { minute: number; produced: number; consumed: number; lag: number | null }
export interface Stats { series: StatPoint[] }

export type ConsumeFrom = 'FIRST' | 'LAST' | { timestamp: number };
export type RetryPolicy = { type: 'CUSTOMIZED' } | { type: 'EXPONENTIAL'; initialMs: number; maxMs: number; multiplier: number };
export interface GroupSummary { name: string; mode: 'CLUSTERING' | 'BROADCASTING'; lag: number; consumers: number }
export interface GroupQueue {
  topic: string; queueId: number; brokerOffset: number; consumerOffset: number; lag: number; inflight: number; retrying: number;
}
export interface Consumer { consumerId: string; transport: 'ws' | 'pull'; topic: string; connectedAt?: number; lastSeen?: number }
export interface Group {
  name: string; mode: 'CLUSTERING' | 'BROADCASTING'; consumeFrom: ConsumeFrom; maxRetries: number; retryPolicy: RetryPolicy;
  invisibleMs: number; createdAt: number;
}
export interface GroupDetail extends Group {
  subscriptions: { topic: string; filter: unknown }[]; consumers: Consumer[]; queues: GroupQueue[]; lag: number;
}
export type ResetTo = 'EARLIEST' | 'LATEST' | { timestamp: number } | { queueId: number; offset: number };
export interface ResetResult { group: string; topic: string; offsets: { queueId: number; offset: number }[] }

export interface Message {
  messageId: string; topic: string; queueId: number; queueOffset: number | null; body: unknown;
  encoding: 'text' | 'json' | 'base64'; tag?: string; keys?: string[]; properties?: Record<string, string>;
  messageGroup?: string; bornTimestamp: number; storeTimestamp: number; deliverAt?: number;
}
export type GroupStatus = 'NOT_CONSUMED_YET' | 'INFLIGHT' | 'RETRYING' | 'CONSUMED' | 'FILTERED' | 'DLQ';
export interface MessageDetail extends Message {
  state: 'SCHEDULED' | 'HALF' | 'STORED' | 'RECALLED';
  groups: { group: string; consumerId?: string; status: GroupStatus }[];
}
export interface TraceEvent { type: string; at: number; [k: string]: unknown }
export interface Page<T> { messages: T[]; cursor?: string }
export interface Produced { messageId: string; queueId: number; queueOffset: number | null; duplicate?: boolean }
export interface DeadLetter extends Message { resent: { at: number; messageId: string } | null }
export interface DlqResendResult {
  resent: { messageId: string; topic: string; newMessageId: string }[];
  failed: { messageId: string; reason: string }[];
}
