/**
 * A raw client of the WebSocket produce channel (docs/api.md "Produce over WebSocket") for the
 * end-to-end tests, without the SDK: it sends frames as given and records every answer.
 */
import WebSocket from 'ws';
import { enc, sleep, type Json } from './client';

/** A raw produce-channel client: records every answer by id. */
export class Channel {
  readonly answers = new Map<unknown, Json>();
  readonly unmatched: Json[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.id !== undefined) this.answers.set(f.id, f); else this.unmatched.push(f);
    });
    this.closed = new Promise((r) => ws.once('close', (code) => { this.closeCode = code; r(); }));
  }

  static open(baseUrl: string, topic: string): Promise<Channel> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/topics/${enc(topic)}/messages/ws`);
    return new Promise((res, rej) => {
      ws.once('open', () => res(new Channel(ws)));
      ws.once('unexpected-response', (_q, r) => rej(new Error(`upgrade refused: ${r.statusCode}`)));
      ws.once('error', rej);
    });
  }

  send(frame: unknown): void { this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)); }

  async answer(id: unknown, ms = 10_000): Promise<Json> {
    const end = Date.now() + ms;
    while (!this.answers.has(id)) {
      if (Date.now() > end) throw new Error(`no answer to send ${String(id)}`);
      await sleep(10);
    }
    return this.answers.get(id);
  }

  async next(ms = 10_000): Promise<Json> {
    const end = Date.now() + ms;
    while (!this.unmatched.length) {
      if (Date.now() > end) throw new Error('no frame without an id came');
      await sleep(10);
    }
    return this.unmatched.shift();
  }
}
