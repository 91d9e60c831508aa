import type { Broker } from './objects/Broker';
import type { NameServer } from './objects/NameServer';

export interface Env {
  NAMESERVER: DurableObjectNamespace<NameServer>;
  BROKER: DurableObjectNamespace<Broker>;
  /** The admin secret (`wrangler secret put ADMIN_TOKEN`). */
  ADMIN_TOKEN?: string;
  /** "true" opens the server without a token: local development only (`npm start`). */
  ALLOW_ANONYMOUS?: string;
  /** Appends after which a produce connection is recycled (default LIMITS.channelAppendsMax; tests set it low). */
  CHANNEL_APPENDS_MAX?: string;
  /** How long a Broker may hold push acks before it applies them together (default 10 ms; tests set it long). */
  PUSH_ACK_FLUSH_MS?: string;
  /** How long a push delivery's lease may stay unwritten, waiting for its ack (default 1000 ms). */
  PUSH_LEASE_HOLD_MS?: string;
  /** "true": Brokers count their SQL statements and rows as billed (costCounters: the bench's cost phase, tests). */
  COST_COUNTERS?: string;
}
