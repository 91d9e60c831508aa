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

/**
 * A recreated topic gets a new incarnation, so its brokers are new objects: nothing of a deleted
 * topic can reappear under the same name.
 */
export function broker(env: Env, topic: TopicRoute, queueId: number) {
  // getByName: one runtime call and no id object per request (a produce makes one stub each)
  return env.BROKER.getByName(`${topic.incarnation}/${queueId}/${topic.name}`);
}
