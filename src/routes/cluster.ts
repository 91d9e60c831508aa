/** The NameServer's view of the cluster, and per-minute stats for charts. */
import { z } from '@hono/zod-openapi';
import { ApiError, unwrap } from '../model/errors';
import { broker, nameServer, type TopicRoute } from '../objects/names';
import { findTopic } from '../worker/catalog-cache';
import { check } from '../worker/validate';
import { define, type App } from './define';

const StatsQuery = z.object({
  topic: z.string().max(200).optional(), group: z.string().max(120).optional(),
  minutes: z.coerce.number().int().min(1).max(1440).default(60), token: z.string().optional(),
}).strict();

export function clusterRoutes(app: App) {
  define(app, 'get', '/v1/cluster', {
    summary: 'Every broker (one per topic queue) with counts, bytes, last activity and TPS, and totals', tags: ['cluster'],
    ok: { status: 200 },
  }, async (c) => {
    const topics = await nameServer(c.env).listTopics();
    const brokers = (await Promise.all(topics.map((t) => Promise.all(Array.from({ length: t.queues }, async (_, q) =>
      unwrap(await broker(c.env, t, q).brokerInfo({ topic: t, queueId: q }))))))).flat();
    const sum = (f: (b: typeof brokers[number]) => number) => brokers.reduce((n, b) => n + f(b), 0);
    return c.json({
      nameServer: { topics: topics.length },
      brokers,
      totals: {
        topics: topics.length, brokers: brokers.length, messages: sum((b) => b.messages), bytes: sum((b) => b.bytes),
        produceTps: sum((b) => b.produceTps), consumeTps: sum((b) => b.consumeTps), connections: sum((b) => b.connections),
      },
    });
  });

  define(app, 'get', '/v1/stats', {
    summary: 'Per-minute series of produced, consumed and lag (by topic, group, or both)', tags: ['cluster'],
    query: StatsQuery, ok: { status: 200 },
  }, async (c) => {
    const p = check(StatsQuery, c.req.query());
    const now = Date.now();
    const to = Math.floor(now / 60_000);
    const from = to - p.minutes + 1;
    let topics: TopicRoute[];
    if (p.topic) {
      const t = await findTopic(c.env, p.topic);
      if (!t) throw new ApiError('TOPIC_NOT_FOUND', `topic "${p.topic}" does not exist`);
      topics = [t];
    } else if (p.group) {
      const d = await nameServer(c.env).groupDetail(p.group);
      if (!d) throw new ApiError('GROUP_NOT_FOUND', `group "${p.group}" does not exist`);
      topics = (await Promise.all(d.subscriptions.map((s) => findTopic(c.env, s.topic)))).filter((t): t is TopicRoute => !!t);
    } else topics = await nameServer(c.env).listTopics();
    const series = Array.from({ length: p.minutes }, (_, i) => ({ minute: (from + i) * 60_000, produced: 0, consumed: 0, lag: null as number | null }));
    await Promise.all(topics.flatMap((t) => Array.from({ length: t.queues }, async (_, q) => {
      const r = unwrap(await broker(c.env, t, q).statsSeries({ topic: t, queueId: q }, from, p.group ?? null));
      for (const pt of r.points) {
        const s = series[pt.minute - from];
        if (!s) continue;
        s.produced += pt.produced;
        s.consumed += pt.consumed;
        if (pt.lag !== null) s.lag = (s.lag ?? 0) + pt.lag;
      }
    })));
    return c.json({ topic: p.topic ?? null, group: p.group ?? null, minutes: p.minutes, series });
  });
}
