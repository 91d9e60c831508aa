/**
 * The edgemq SDK (`import { Producer } from 'edgemq/client'`): Producer, PushConsumer,
 * SimpleConsumer and Admin over the HTTP and WebSocket API. It runs in Node 20+ (with the `ws`
 * package for push), browsers and Cloudflare Workers, and imports nothing server-only.
 * Its types are inferred from the server's own schemas (src/model/schemas.ts).
 */
export { Producer, SendBatchError, type ProducerOptions, type SendOptions, type SendBatchOptions, type TransactionOutcome } from './producer';
export { ProducerStream, type ProducerStreamOptions } from './producer-stream';
export { PushConsumer, type PushConsumerOptions, type PushConsumerStats, type MessageHandler, type HandlerContext } from './push-consumer';
export { SimpleConsumer, type SimpleConsumerOptions, type ReceiveOptions, type Receipt } from './simple-consumer';
export { Admin, dlqTopic, type PageOptions } from './admin';
export { Transaction, transactionCheckHandler, transactionCheckListener, type TransactionChecker } from './transaction';
export { EdgeMQError, type EdgeMQErrorCode, type ClientErrorCode } from './errors';
export { HttpClient, type ClientOptions, type RetryOptions, type RetryMode } from './http';
export { planBatches, messageSizes, SERVER_BATCH_LIMITS, type BatchLimits } from './batch';
export type { WebSocketConstructor } from './socket';
export { bodyBytes, bodyText } from './body';
export * from './types';
