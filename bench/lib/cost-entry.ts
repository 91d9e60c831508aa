/**
 * The Worker as the bench runs it (bench/lib/server.mjs copies this file next to the sources it
 * snapshots and builds from it): src/index.ts unchanged, plus billing-style counters and one debug
 * route that only this build has.
 *
 *   GET /__bench/cost?topic=T  -> { worker: {...counts}, brokers: [{ queueId, statements, rowsRead,
 *                                   rowsWritten, databaseSize }] } (the Broker's costCounters())
 *
 * Counted in this isolate (wrangler dev runs one): requests into the Worker, and what the Worker
 * sends to Durable Objects: RPC calls and fetches on stubs (billed as one DO request each). The
 * WebSocket messages a Broker receives (billed as 1/20 of a request each: a relay's, or a client's
 * on a socket that ends at the Broker) are counted by the Broker (`costCounters`). Not seen here:
 * alarms and calls one object makes to another (neither happens per message in the measured flows).
 */
import app, { Broker, NameServer } from '../src/index';
import { broker, nameServer } from '../src/objects/names';
import type { Env } from '../src/env';

export { Broker, NameServer };

const counts = {
  workerRequests: 0, brokerRpc: 0, brokerFetch: 0, nameServerRpc: 0, since: Date.now(),
  /** of brokerRpc, the produce calls: the rest of what Brokers count as received came from objects */
  workerProduceCalls: 0,
};
type Kind = 'broker' | 'nameServer';

function countRpc(kind: Kind): void {
  if (kind === 'broker') counts.brokerRpc++; else counts.nameServerRpc++;
}

function wrapStub(stub: DurableObjectStub, kind: Kind): DurableObjectStub {
  return new Proxy(stub, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (prop === 'fetch') {
        return async (...a: Parameters<DurableObjectStub['fetch']>) => {
          if (kind === 'broker') counts.brokerFetch++; else counts.nameServerRpc++;
          return target.fetch(...a);
        };
      }
      if (typeof prop === 'string' && prop !== 'then' && typeof v === 'function') {
        return (...a: unknown[]) => {
          countRpc(kind);
          if (kind === 'broker' && (prop === 'produce' || prop === 'producePacked')) counts.workerProduceCalls++;
          return (target as unknown as Record<string, (...x: unknown[]) => unknown>)[prop](...a);
        };
      }
      return v;
    },
  });
}

function wrapNamespace(ns: DurableObjectNamespace, kind: Kind): DurableObjectNamespace {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop === 'get') return (id: DurableObjectId, o?: DurableObjectNamespaceGetDurableObjectOptions) => wrapStub(target.get(id, o), kind);
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

let wrapped: { from: Env; env: Env } | null = null;

export default {
  async fetch(req: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === '/__bench/cost') {
      const name = url.searchParams.get('topic');
      const out: Record<string, unknown> = { worker: { ...counts } };
      if (name) {
        const t = await nameServer(env).getTopic(name);
        if (!t) return Response.json({ error: `no topic ${name}` }, { status: 404 });
        out.brokers = await Promise.all(Array.from({ length: t.queues }, async (_, q) => ({
          queueId: q, ...(await (broker(env, t, q) as unknown as { costCounters(): Promise<Record<string, number>> }).costCounters()),
        })));
      }
      return Response.json(out);
    }
    counts.workerRequests++;
    if (!wrapped || wrapped.from !== env) {
      wrapped = {
        from: env,
        env: { ...env, BROKER: wrapNamespace(env.BROKER, 'broker'), NAMESERVER: wrapNamespace(env.NAMESERVER, 'nameServer') } as Env,
      };
    }
    return app.fetch(req, wrapped.env, ctx);
  },
};
