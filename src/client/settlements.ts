/** Acks and nacks waiting to be sent, coalesced into as few frames (or requests) as the limits allow. */
import { LIMITS } from '../model/limits';
import type { ClientFrame } from './types';

export class Settlements {
  private acks: string[] = [];
  /** nacks by delay ('' = the group's backoff) */
  private nacks = new Map<string, { delayMs?: number; handles: string[] }>();

  get size(): number {
    let n = this.acks.length;
    for (const v of this.nacks.values()) n += v.handles.length;
    return n;
  }

  ack(handle: string): void { this.acks.push(handle); }

  nack(handle: string, delayMs?: number): void {
    const k = delayMs === undefined ? '' : String(delayMs);
    let e = this.nacks.get(k);
    if (!e) this.nacks.set(k, (e = delayMs === undefined ? { handles: [] } : { delayMs, handles: [] }));
    e.handles.push(handle);
  }

  add(f: ClientFrame): void {
    for (const h of f.receiptHandles) {
      if (f.type === 'ack') this.ack(h);
      else this.nack(h, f.delayMs);
    }
  }

  /** Everything waiting, as frames of at most LIMITS.ackHandlesMax handles; leaves this empty. */
  drain(): ClientFrame[] {
    const out: ClientFrame[] = [];
    const max = LIMITS.ackHandlesMax;
    for (let i = 0; i < this.acks.length; i += max) out.push({ type: 'ack', receiptHandles: this.acks.slice(i, i + max) });
    for (const { delayMs, handles } of this.nacks.values()) {
      for (let i = 0; i < handles.length; i += max) {
        out.push(delayMs === undefined ? { type: 'nack', receiptHandles: handles.slice(i, i + max) } : { type: 'nack', receiptHandles: handles.slice(i, i + max), delayMs });
      }
    }
    this.acks = [];
    this.nacks.clear();
    return out;
  }
}
