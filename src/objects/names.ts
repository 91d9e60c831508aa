/** How objects are named and found: one NameServer, one Broker per (topic incarnation, queue). */
import type { Env } from '../env';
import type { TopicConfig } from '../model/schemas';

/** A topic as routed: its config plus the incarnation that names its brokers. */
export type TopicRoute = TopicConfig & {
  incarnation: string;
  /** the queue count at creation: dedupIds hash over it, so growing the topic keeps each in its queue */
  dedupQueues?: number;
};

export interface QueueRoute { topic: TopicRoute; queueId: number }

export const DLQ_PREFIX = '%DLQ%';
export const dlqTopicName = (group: string) => `${DLQ_PREFIX}${group}`;

export function nameServer(env: Env) {
  return env.NAMESERVER.getByName('nameserver');
}

/** Brokers' ids by name, derived once per isolate (bounded: cleared at 4,096) */
const brokerIds = new Map<string, DurableObjectId>();

/**
 * A recreated topic gets a new incarnation, so its brokers are new objects: nothing of a deleted
 * topic can reappear under the same name.
 */
export function broker(env: Env, topic: TopicRoute, queueId: number) {
  // a stub serves only the request that made it (workerd refuses it in another), but an id is a
  // value: deriving it from the name (a hash) was ~10 µs of every produce request
  const name = `${topic.incarnation}/${queueId}/${topic.name}`;
  let id = brokerIds.get(name);
  if (!id) {
    if (brokerIds.size >= 4096) brokerIds.clear();
    brokerIds.set(name, (id = env.BROKER.idFromName(name)));
  }
  return env.BROKER.get(id);
}
