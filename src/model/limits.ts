/** Every limit edgemq enforces, in one place (docs/limits.md lists them for users). */
export const LIMITS = {
  topicName: /^[A-Za-z0-9_-]{1,127}$/,
  groupName: /^[A-Za-z0-9_-]{1,120}$/,
  queuesMax: 64,
  maxMessageBytesDefault: 1_048_576,
  maxMessageBytesMax: 4_194_304,
  retentionHoursDefault: 72,
  retentionHoursMax: 24 * 365,
  dedupWindowMsDefault: 600_000,
  dedupWindowMsMax: 7 * 24 * 3_600_000,
  batchMessagesMax: 1000,
  batchBytesMax: 8 * 1024 * 1024,
  /** Largest request body read at all: a full batch plus JSON and base64 overhead. */
  requestBytesMax: 12 * 1024 * 1024,
  /** Bodies of requests other than produce (configs, acks) are small. */
  controlRequestBytesMax: 1024 * 1024,
  tagChars: 128,
  keysMax: 32,
  keyChars: 128,
  propertiesMax: 128,
  propertiesBytesMax: 16 * 1024,
  messageGroupChars: 64,
  dedupIdChars: 128,
  idempotencyKeyChars: 128,
  maxDelayMs: 365 * 24 * 3_600_000,
  receiveMaxMessages: 256,
  receiveDefaultMessages: 16,
  receiveWaitMsMax: 20_000,
  /** A receive answer stops adding messages past this many body bytes (at least one is sent). */
  receiveBytesMax: 8 * 1024 * 1024,
  ackHandlesMax: 1000,
  receiptHandleChars: 512,
  invisibleMsMin: 1000,
  invisibleMsMax: 43_200_000,
  invisibleMsDefault: 30_000,
  maxRetriesMax: 32,
  maxRetriesDefault: 16,
  nackDelayMsMax: 43_200_000,
  jsonDepthMax: 64,
  /** Largest WebSocket message a Worker receives (the platform closes the socket with 1009 above it). */
  wsFrameBytesMax: 1024 * 1024,
  /** Sends a produce channel holds unanswered before it answers OVERLOADED (memory per connection). */
  channelPendingSendsMax: 4096,
  channelPendingBytesMax: 64 * 1024 * 1024,
  /**
   * Appends one produce connection makes before the server recycles it (answers further sends
   * OVERLOADED, then closes with 1012 once the rest are answered). The runtime keeps some state
   * of every call a request makes until the request ends, and a WebSocket's request lasts as long
   * as the connection: unbounded, a busy connection would grow the isolate past its memory.
   */
  channelAppendsMax: 5000,
} as const;

/** RocketMQ's CUSTOMIZED backoff before retries 1..16, and 2 h after that. */
export const CUSTOMIZED_BACKOFF_MS = [
  10e3, 30e3, 60e3, 120e3, 180e3, 240e3, 300e3, 360e3, 420e3, 480e3, 540e3, 600e3,
  1_200e3, 1_800e3, 3_600e3, 7_200e3,
];
