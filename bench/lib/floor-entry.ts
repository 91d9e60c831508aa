/**
 * A Worker that does no work, served by the same `wrangler dev` as edgemq (bench/lib/server.mjs
 * builds it in place of src/index.ts; the compare phase's "floor"): what the dev server itself
 * costs per request, and what latency it can give, under the same load as edgemq's.
 *
 *   GET  with Upgrade: websocket -> a produce channel that stores nothing: each `{"type":"send",
 *                     "id":N,...}` frame is answered `{"type":"sent","id":N,...}` at once
 *   GET  any path  -> 200 {"status":"ok"}            (the shape of GET /v1/health)
 *   POST any path  -> reads the body, then 201 with a fixed answer the size of edgemq's: 100
 *                     results for a batch (`{"messages":...`), one for a single message
 *
 * The Durable Object classes are exported only because wrangler.toml binds them; nothing calls them.
 */
import { Broker, NameServer } from '../src/index';
import { logMessageIdEncoder } from '../src/model/ids';
import { produceAnswer } from '../src/worker/produce';

export { Broker, NameServer };

const JSON_UTF8 = { 'Content-Type': 'application/json; charset=utf-8' };
const id = logMessageIdEncoder('0123ABCD', 0);
const results = (n: number) => Array.from({ length: n }, (_, k) => ({ messageId: id(1_000_000 + k), queueId: 0, queueOffset: 1_000_000 + k }));
const batchAnswer = new TextEncoder().encode(produceAnswer(results(100)));
const singleAnswer = new TextEncoder().encode(produceAnswer(results(1)));
const sentTail = JSON.stringify(results(1)).slice(1, -1);

/** The frame's id, read without parsing the rest (the floor does no work). */
const SEND_ID = /^\{"type":"send","id":(\d+),/;

function channel(): Response {
  const pair = new WebSocketPair();
  const ws = pair[1];
  ws.accept();
  ws.addEventListener('message', (e) => {
    const m = typeof e.data === 'string' ? SEND_ID.exec(e.data) : null;
    ws.send(m ? `{"type":"sent","id":${m[1]},"messages":[${sentTail}]}` : '{"type":"error","code":"BAD_REQUEST","message":"not a send frame"}');
  });
  return new Response(null, { status: 101, webSocket: pair[0] });
}

export default {
  async fetch(request: Request): Promise<Response> {
    if (request.method === 'POST') {
      const text = await request.text();
      return new Response(text.startsWith('{"messages"') ? batchAnswer : singleAnswer, { status: 201, headers: JSON_UTF8 });
    }
    if (request.headers.get('Upgrade')?.toLowerCase() === 'websocket') return channel();
    return new Response('{"status":"ok"}', { headers: JSON_UTF8 });
  },
};
