// A small JSON client over an undici keep-alive Pool (Node's fetch would make the client the
// bottleneck at small requests). Retries OVERLOADED (429/503) after Retry-After.
import { Pool } from 'undici';
import { performance } from 'node:perf_hooks';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class HttpError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path} -> ${status}: ${typeof body === 'string' ? body.slice(0, 300) : JSON.stringify(body).slice(0, 300)}`);
    this.status = status; this.body = body;
  }
}

export function makeClient(url, { connections = 8, timeoutMs = 60_000 } = {}) {
  // wrangler dev closes a connection idle for 5 s and says nothing of it (no Keep-Alive header):
  // kept longer here, a request sent as it closes fails with "other side closed"
  const pool = new Pool(url, {
    connections, pipelining: 1, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000,
    headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
  });
  const stats = { retries: 0 };
  /**
   * Sends one request; `body` is a string (already JSON) or a value to serialize.
   * Returns { status, json, ms } for 2xx; throws HttpError otherwise (after retrying 429/503).
   */
  async function request(method, path, body, { expect } = {}) {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      const r = await pool.request({
        path, method, body: payload,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      });
      const text = await r.body.text();
      const ms = performance.now() - t0;
      const ok = expect ? expect.includes(r.statusCode) : r.statusCode >= 200 && r.statusCode < 300;
      if (ok) return { status: r.statusCode, json: text ? JSON.parse(text) : null, ms };
      if ((r.statusCode === 429 || r.statusCode === 503) && attempt < 20) {
        stats.retries++;
        await sleep(Math.min(1000, Number(r.headers['retry-after'] ?? 0.05) * 1000));
        continue;
      }
      let parsed = text;
      try { parsed = JSON.parse(text); } catch { /* keep text */ }
      throw new HttpError(method, path, r.statusCode, parsed);
    }
  }
  return { request, stats, close: () => pool.close() };
}
