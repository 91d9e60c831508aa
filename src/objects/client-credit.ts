/**
 * The credit of the push sockets that end at their Broker (a topic of one queue; a relay keeps the
 * credit of the others): a socket may hold at most its budget, the client's maxInflight, of
 * messages pushed and not yet acked or nacked. The receipt handles out on each socket are kept in
 * memory. After the object was evicted while its sockets hibernated, a socket's handles are read
 * again (`reread`, from its leases), so a lease that ran out meanwhile no longer holds credit.
 */
export class ClientCredit {
  private out = new Map<string, Set<string>>();

  constructor(private reread: (connId: string) => Iterable<string>) {}

  /** A socket accepted now: nothing is out on it. */
  opened(connId: string): void { this.out.set(connId, new Set()); }

  closed(connId: string): void { this.out.delete(connId); }

  /** How many more messages the socket may be pushed now. */
  left(connId: string, budget: number): number { return budget - this.of(connId).size; }

  pushed(connId: string, handles: string[]): void {
    const out = this.of(connId);
    for (const h of handles) out.add(h);
  }

  /** The credit an ack or nack frees: one per handle out on this socket (a repeat, or another socket's handle, frees none). */
  settled(connId: string, handles: string[]): number {
    const out = this.of(connId);
    let freed = 0;
    for (const h of handles) if (out.delete(h)) freed++;
    return freed;
  }

  private of(connId: string): Set<string> {
    let out = this.out.get(connId);
    if (!out) this.out.set(connId, (out = new Set(this.reread(connId))));
    return out;
  }
}
