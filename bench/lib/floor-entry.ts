/**
 * A Worker that does no work, served by the same `wrangler dev` as edgemq (bench/lib/server.mjs
 * builds it in place of src/index.ts; the compare phase's "floor"): what the dev server itself
 * costs per request, under the same load as edgemq's.
 *
 *   GET  any path  -> 200 {"status":"ok"}            (the shape of GET /v1/health)
 *   POST any path  -> reads the body, then 201 with a fixed answer of 100 results, the size of
 *                     edgemq's answer to a 100-message produce
 *
 * The Durable Object classes are exported only because wrangler.toml binds them; nothing calls them.
 */
import { Broker, NameServer } from '../src/index';
import { logMessageIdEncoder } from '../src/model/ids';
import { produceAnswer } from '../src/worker/produce';

export { Broker, NameServer };

const JSON_UTF8 = { 'Content-Type': 'application/json; charset=utf-8' };
const id = logMessageIdEncoder('0123ABCD', 0);
const answer = new TextEncoder().encode(produceAnswer(Array.from({ length: 100 }, (_, k) => ({
  messageId: id(1_000_000 + k), queueId: 0, queueOffset: 1_000_000 + k,
}))));

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method === 'POST') {
      await request.text();
      return new Response(answer, { status: 201, headers: JSON_UTF8 });
    }
    return new Response('{"status":"ok"}', { headers: JSON_UTF8 });
  },
};
