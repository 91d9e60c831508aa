/**
 * Sockets that end at a queue's Broker: its fetch takes the upgrade (a push subscription, or a
 * producer of a topic of one queue) and answers 101 with its hibernatable end of the pair.
 */
import type { Env } from '../env';
import { unwrap } from '../model/errors';
import { broker, type TopicRoute } from '../objects/names';

/** The Broker's 101 socket; its refusal (a deleted topic, say) is thrown as the API error it names. */
export async function upgradeAtBroker(env: Env, t: TopicRoute, q: number, header: { name: string; value: string }): Promise<WebSocket> {
  const res = await broker(env, t, q).fetch('https://broker/ws', { headers: { Upgrade: 'websocket', [header.name]: header.value } });
  if (res.status !== 101 || !res.webSocket) {
    const body = await res.json().catch(() => null) as { error?: { code: string; message: string } } | null;
    unwrap({ failure: body?.error ?? { code: 'INTERNAL' as const, message: `queue ${q} refused the socket` } } as never);
  }
  return res.webSocket!;
}
