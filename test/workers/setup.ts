/**
 * No alarm goes off by itself in these tests: every alarm an object sets is stored 10 minutes later
 * than asked, and a test that wants one runs it with runDurableObjectAlarm (as holdAlarms did for
 * single objects). Why: each test's objects go with its isolated storage frame, but workerd keeps
 * their alarms in memory, and one that fires after its test reopens the object (a fresh, empty one)
 * while the pool copies storage files; the copy fails on the SQLite journal or shared-memory file
 * ("Isolated storage failed") and every later test with it. Alarms firing on time are covered by the
 * end-to-end tests against `wrangler dev`, and by the few tests here that ask for them (alarmsOnTime).
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { heldUntil } from './helpers';

const g = globalThis as { __alarmsHeld?: boolean; __alarmsOnTime?: boolean };
if (!g.__alarmsHeld) {
  g.__alarmsHeld = true;
  // the storage class is not a global: its prototype is reached through an object's own storage
  await runInDurableObject(env.NAMESERVER.getByName('setup: alarm hold'), (_o, state) => {
    const proto = Object.getPrototypeOf(state.storage) as DurableObjectStorage;
    const setAlarm = proto.setAlarm;
    proto.setAlarm = function (this: DurableObjectStorage, at: number | Date, opts?: DurableObjectSetAlarmOptions) {
      // a describe that tests alarms going off by themselves lets them (helpers' alarmsOnTime)
      return setAlarm.call(this, g.__alarmsOnTime ? at : heldUntil(at), opts);
    };
  });
}
