/**
 * Hibernation is used for real: a push subscription that sits idle lets its Broker object be
 * evicted from memory (so it costs no object wall time) while the WebSocket stays open; the next
 * message wakes a new instance, which delivers it over the same socket. A producer's socket on a
 * topic of one queue also ends at the Broker, and sends on it after a wake are stored as before.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api, sleep, uniq } from './client';
import { Channel } from './produce-client';
import { useServer } from './server';
import { usePushClients } from './ws-client';

const ctx = useServer();
let api: Api;
beforeAll(() => { api = ctx.api; });
const { connect } = usePushClients(() => ctx.server.url);

async function instanceStartedAt(topic: string): Promise<number> {
  const r = await api.get('/v1/cluster');
  expect(r.status).toBe(200);
  const b = r.body.brokers.find((x: { topic: string }) => x.topic === topic);
  expect(b).toBeDefined();
  return b.instanceStartedAt;
}

/** Waits, idle, until the topic's Broker has been evicted (a new instance answers). */
async function untilEvicted(topic: string): Promise<void> {
  const first = await instanceStartedAt(topic);
  let evicted = false;
  for (let i = 0; i < 3 && !evicted; i++) {
    await sleep(12_000);
    evicted = (await instanceStartedAt(topic)) > first;
  }
  expect(evicted).toBe(true);
}

describe('hibernation', () => {
  it('evicts an idle Broker while its socket stays open, and delivers after waking', async () => {
    const topic = uniq('hib');
    await api.createTopic(topic, { queues: 1 });
    const c = await connect(topic, 'g', {}, 'idle');
    c.autoAck();
    await api.produce(topic, { body: 'before' });
    await c.untilCount(1);
    const first = await instanceStartedAt(topic);

    // workerd evicts an object with only hibernatable sockets after about 10 s without events
    let evicted = false;
    for (let i = 0; i < 3 && !evicted; i++) {
      await sleep(12_000);
      await api.produce(topic, { body: `after-${i}` });
      await c.untilCount(2 + i);
      evicted = (await instanceStartedAt(topic)) > first;
    }
    expect(evicted).toBe(true);
    expect(c.open).toBe(true);
    expect(c.messages.map((m) => m.body)[0]).toBe('before');
    expect(c.closeCode).toBeNull();
  }, 60_000);

  it('a woken Broker still counts the messages out on the socket against maxInflight', async () => {
    const topic = uniq('hib-credit');
    const g = uniq('g');
    await api.createTopic(topic, { queues: 1 }); // one queue: the socket's credit is kept by its Broker
    await api.putGroup(g, { invisibleMs: 300_000 });
    const c = await connect(topic, g, { maxInflight: 2 }, 'holder');
    await api.produce(topic, { body: 'held' });
    await c.untilCount(1);
    await untilEvicted(topic);

    // 'held' is still out: of a budget of 2, one is left
    await api.produce(topic, { messages: [{ body: 'a' }, { body: 'b' }] });
    await c.untilCount(2);
    await sleep(800);
    expect(c.messages.map((m) => m.body)).toEqual(['held', 'a']);
    c.ack(c.messages.slice(0, 1));
    await c.untilCount(3);
    expect(c.messages.map((m) => m.body)).toEqual(['held', 'a', 'b']);
    expect(c.peak).toBe(2);
    expect(c.open).toBe(true);
  }, 60_000);

  it('a producer socket outlives an eviction of its Broker: a send after the wake is answered and stored', async () => {
    const topic = uniq('hib-produce');
    await api.createTopic(topic, { queues: 1 }); // one queue: the producer's socket ends at its Broker
    const ch = await Channel.open(ctx.server.url, topic);
    ch.send({ type: 'send', id: 1, messages: [{ body: 'before' }] });
    expect(await ch.answer(1)).toMatchObject({ type: 'sent', messages: [{ queueOffset: 0 }] });
    await untilEvicted(topic);
    expect(ch.closeCode).toBeNull();
    ch.send({ type: 'send', id: 2, messages: [{ body: 'after' }, { body: 'wake' }] });
    expect(await ch.answer(2)).toMatchObject({ type: 'sent', messages: [{ queueOffset: 1 }, { queueOffset: 2 }] });
    expect(await api.stored(topic)).toBe(3);
    ch.ws.close();
  }, 60_000);
});
