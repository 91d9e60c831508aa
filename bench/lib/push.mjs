// The benchmarks' push consumer: one WebSocket subscription (API.md "Push over WebSocket").
import WebSocket from 'ws';

const enc = encodeURIComponent;

/**
 * Opens a push subscription; resolves with the socket once the upgrade succeeded (a refused
 * upgrade rejects with the server's status and body). `onText(text, ws)` gets every text frame.
 */
export function openPush(url, topic, group, { maxInflight, consumerId }, onText) {
  const wsUrl = `${url.replace(/^http/, 'ws')}/v1/topics/${enc(topic)}/subscriptions/${enc(group)}/ws?consumerId=${enc(consumerId)}&maxInflight=${maxInflight}`;
  return new Promise((res, rej) => {
    const ws = new WebSocket(wsUrl, { handshakeTimeout: 20_000, perMessageDeflate: false });
    ws.once('open', () => res(ws));
    ws.once('unexpected-response', (_req, r) => {
      let t = '';
      r.on('data', (d) => { t += d; });
      r.on('end', () => rej(new Error(`ws upgrade refused: ${r.statusCode} ${t.slice(0, 300)}`)));
    });
    ws.once('error', rej);
    ws.on('message', (data, isBinary) => { if (!isBinary) onText(data.toString(), ws); });
  });
}
