/**
 * Transactions (half messages): a prepared transaction to commit or roll back, and the check-back
 * endpoint the broker calls (`checkUrl`) when a transaction stays unresolved, as a fetch handler
 * (Workers, Deno, Bun, Hono) or a node:http listener.
 */
import type { HttpClient } from './http';
import { seg } from './http';
import type { TransactionCheck, TransactionDecision, TransactionResolved } from './types';

export class Transaction {
  constructor(private readonly http: HttpClient, readonly topic: string, readonly transactionId: string, readonly messageIds: string[]) {}

  /** The half messages become deliverable. Repeating the same decision is harmless. */
  commit(): Promise<TransactionResolved> { return this.resolve('commit'); }

  /** The half messages are dropped. */
  rollback(): Promise<TransactionResolved> { return this.resolve('rollback'); }

  private resolve(verb: 'commit' | 'rollback'): Promise<TransactionResolved> {
    return this.http.post<TransactionResolved>(`/v1/topics/${seg(this.topic)}/transactions/${seg(this.transactionId)}/${verb}`, undefined, { retry: 'safe' });
  }
}

/** Decides an unresolved transaction from your own records: COMMIT, ROLLBACK, or UNKNOWN (ask again later). */
export type TransactionChecker = (check: TransactionCheck) => TransactionDecision | Promise<TransactionDecision>;

function parseCheck(text: string): TransactionCheck | null {
  try {
    const v = JSON.parse(text) as Partial<TransactionCheck>;
    if (typeof v?.transactionId !== 'string' || typeof v.topic !== 'string') return null;
    return { topic: v.topic, transactionId: v.transactionId, messageIds: Array.isArray(v.messageIds) ? v.messageIds : [], checkTimes: Number(v.checkTimes) || 1 };
  } catch {
    return null;
  }
}

async function decide(checker: TransactionChecker, text: string): Promise<{ status: number; body: string }> {
  const check = parseCheck(text);
  if (!check) return { status: 400, body: JSON.stringify({ error: { code: 'BAD_REQUEST', message: 'expected {"topic", "transactionId", "messageIds", "checkTimes"}' } }) };
  let state: TransactionDecision;
  try {
    state = await checker(check);
  } catch {
    state = 'UNKNOWN'; // the broker asks again after checkIntervalMs
  }
  if (state !== 'COMMIT' && state !== 'ROLLBACK') state = 'UNKNOWN';
  return { status: 200, body: JSON.stringify({ state }) };
}

/** A fetch-style handler for the transaction check-back: mount it at your `checkUrl`. */
export function transactionCheckHandler(checker: TransactionChecker): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method !== 'POST') return new Response('POST a transaction check', { status: 405 });
    const r = await decide(checker, await request.text());
    return new Response(r.body, { status: r.status, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
  };
}

/** The parts of node:http's IncomingMessage and ServerResponse the listener uses. */
export interface NodeRequestLike { method?: string; on(event: string, listener: (chunk?: unknown) => void): unknown }
export interface NodeResponseLike { statusCode: number; setHeader(name: string, value: string): unknown; end(body?: string): unknown }

/** The same check-back as a node:http listener: `http.createServer(transactionCheckListener(checker))`. */
export function transactionCheckListener(checker: TransactionChecker): (req: NodeRequestLike, res: NodeResponseLike) => void {
  return (req, res) => {
    const chunks: Uint8Array[] = [];
    req.on('data', (c) => { chunks.push(typeof c === 'string' ? new TextEncoder().encode(c) : c as Uint8Array); });
    req.on('end', () => {
      const size = chunks.reduce((n, c) => n + c.length, 0);
      const all = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) { all.set(c, at); at += c.length; }
      const answer = req.method === 'POST' ? decide(checker, new TextDecoder().decode(all)) : Promise.resolve({ status: 405, body: '' });
      void answer.then((r) => {
        res.statusCode = r.status;
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.end(r.body);
      });
    });
  };
}
