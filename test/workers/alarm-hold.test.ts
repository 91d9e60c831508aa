/** What setup.ts promises every other test here: an object's alarm does not go off by itself. */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { broker } from '../../src/objects/names';
import { alarmsOnTime, sleep, topicRoute, uniq } from './helpers';

const setSoon = (stub: DurableObjectStub) => runInDurableObject(stub, async (_o, state) => {
  await state.storage.setAlarm(Date.now() + 50);
  return state.storage.getAlarm();
});

describe('alarms in these tests', () => {
  it('are stored 10 minutes later than asked, and run only when a test runs them', async () => {
    const stub = broker(env, topicRoute(uniq('hold')), 0);
    const t0 = Date.now();
    const at = await setSoon(stub);
    expect(at).toBeGreaterThanOrEqual(t0 + 600_000);
    await sleep(300);
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).toBe(at); // not gone off
    expect(await runDurableObjectAlarm(stub)).toBe(true);
  });
});

describe('alarms in a describe that asks for them on time', () => {
  alarmsOnTime();
  it('go off by themselves when due', async () => {
    const stub = broker(env, topicRoute(uniq('ontime')), 0);
    const t0 = Date.now();
    const at = await setSoon(stub);
    expect(at).toBeLessThan(t0 + 1000);
    for (let i = 0; i < 100 && await runInDurableObject(stub, (_o, state) => state.storage.getAlarm()) !== null; i++) await sleep(20);
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).toBeNull();
  });
});
