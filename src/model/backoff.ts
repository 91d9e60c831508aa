import { CUSTOMIZED_BACKOFF_MS } from './limits';
import type { RetryPolicy } from './schemas';

/** How long to wait before retry number `retry` (1-based), as RocketMQ 5 does. */
export function backoffMs(policy: RetryPolicy, retry: number): number {
  if (policy.type === 'CUSTOMIZED') {
    return CUSTOMIZED_BACKOFF_MS[Math.min(Math.max(retry, 1), CUSTOMIZED_BACKOFF_MS.length) - 1];
  }
  const ms = policy.initialMs * Math.pow(policy.multiplier, Math.max(retry - 1, 0));
  return Math.min(Math.round(ms), policy.maxMs);
}
