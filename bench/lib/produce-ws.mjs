// The benchmarks' producer over the WebSocket produce channel (docs/api.md "Produce over WebSocket").
import WebSocket from 'ws';
import { performance } from 'node:perf_hooks';

const enc = encodeURIComponent;

/**
 * Opens a produce channel to `topic`. `send(messagesJson)` takes the JSON text of a messages
 * array and resolves with the `sent` answer (rejects on an `error` answer).
 */
export function openProduce(url, topic) {
  const wsUrl = `${url.replace(/^http/, 'ws')}/v1/topics/${enc(topic)}/messages/ws`;
  return new Promise((res, rej) => {
    const ws = new WebSocket(wsUrl, { handshakeTimeout: 20_000, perMessageDeflate: false });
    const waiting = new Map();
    let next = 1;
    ws.once('unexpected-response', (_req, r) => {
      let t = '';
      r.on('data', (d) => { t += d; });
      r.on('end', () => rej(new Error(`ws upgrade refused: ${r.statusCode} ${t.slice(0, 300)}`)));
    });
    ws.once('error', rej);
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      const w = waiting.get(f.id);
      if (!w) return;
      waiting.delete(f.id);
      if (f.type === 'sent') w.resolve(f); else w.reject(new Error(`send ${f.id}: ${f.code} ${f.message}`));
    });
    ws.once('close', () => { for (const w of waiting.values()) w.reject(new Error('the produce channel closed')); waiting.clear(); });
    ws.once('open', () => res({
      ws,
      get inflight() { return waiting.size; },
      send(messagesJson) {
        const id = next++;
        return new Promise((resolve, reject) => {
          waiting.set(id, { resolve, reject });
          ws.send(`{"type":"send","id":${id},"messages":${messagesJson}}`);
        });
      },
      close() {
        return new Promise((r) => { if (ws.readyState === WebSocket.CLOSED) return r(); ws.once('close', r); ws.close(1000, 'bench done'); setTimeout(r, 3000); });
      },
    }));
  });
}

/**
 * Produces `n` messages over one channel with `window` sends in flight, `perSend` messages each
 * (`frames[k]` is the JSON text of a messages array of that many); answers messages, ms and the
 * per-send latencies.
 */
export async function pipelined(ch, { n, window, perSend, frames, timeoutMs }) {
  const sends = Math.ceil(n / perSend);
  const lat = [];
  let issued = 0, answered = 0, k = 0, failed = null;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`produce over WebSocket: ${answered}/${sends} sends answered within ${timeoutMs} ms`)), timeoutMs);
    const more = () => {
      while (!failed && issued < sends && issued - answered < window) {
        issued++;
        const ts = performance.now();
        ch.send(frames[k++ % frames.length]).then((a) => {
          if (a.messages.length !== perSend) throw new Error(`a send answered ${a.messages.length} results`);
          lat.push(performance.now() - ts);
          if (++answered === sends) { clearTimeout(timer); resolve(); } else more();
        }).catch((e) => { failed = e; clearTimeout(timer); reject(e); });
      }
    };
    more();
  });
  return { messages: sends * perSend, ms: performance.now() - t0, lat };
}

/**
 * The same with the SDK's ProducerStream (`edgemq/client`, dist/client.mjs): one message per
 * send() call, `window` calls unanswered at a time; the stream puts the calls of one event-loop
 * turn in one frame, as it does for users.
 */
export async function pipelinedStream(stream, { n, window, bodies, timeoutMs }) {
  const lat = [];
  let issued = 0, answered = 0;
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ProducerStream: ${answered}/${n} sends answered within ${timeoutMs} ms`)), timeoutMs);
    const more = () => {
      while (issued < n && issued - answered < window) {
        const ts = performance.now();
        stream.send({ body: bodies[issued++ % bodies.length] }).then(() => {
          lat.push(performance.now() - ts);
          if (++answered === n) { clearTimeout(timer); resolve(); } else more();
        }, (e) => { clearTimeout(timer); reject(e); });
      }
    };
    more();
  });
  return { messages: n, ms: performance.now() - t0, lat, frames: stream.stats.frames };
}
