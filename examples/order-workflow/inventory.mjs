#!/usr/bin/env node
// @ts-check
/**
 * The inventory service: reserves stock when an order is created and puts it back when the order
 * is cancelled. Group `inventory`, tag filter `OrderCreated || OrderCancelled` (it has nothing to
 * do on payment; the server counts filtered-out messages as consumed for this group).
 *
 *   EDGEMQ_URL=http://127.0.0.1:8787 node examples/order-workflow/inventory.mjs
 */
import { GROUPS, runConsumerService } from './lib.mjs';

/** @typedef {{ stock: Record<string, number>, reservations: Record<string, { status: 'RESERVED' | 'RELEASED', items: import('./lib.mjs').Item[] }> }} Inventory */

/** @param {import('./lib.mjs').Item[]} items @param {Record<string, number>} stock */
const listed = (items, stock) => items.map((i) => `${i.qty}× ${i.sku} (${stock[i.sku]} left)`).join(', ');

await runConsumerService({
  service: 'inventory',
  group: GROUPS.inventory,
  filter: 'OrderCreated || OrderCancelled',
  initial: /** @type {Inventory} */ ({ stock: { 'espresso-beans': 100, grinder: 10, mug: 50, 'filter-papers': 200 }, reservations: {} }),
  effects: {
    /** @param {Inventory} db @param {import('./lib.mjs').OrderCreated} e */
    OrderCreated(db, e) {
      // cancelled before we saw it created (the two may travel in different queues): keep nothing
      if (db.reservations[e.orderId]) return `${e.orderId} was already cancelled: nothing reserved`;
      for (const i of e.items) db.stock[i.sku] = (db.stock[i.sku] ?? 0) - i.qty;
      db.reservations[e.orderId] = { status: 'RESERVED', items: e.items };
      return `reserved ${listed(e.items, db.stock)} for ${e.orderId}`;
    },
    /** @param {Inventory} db @param {import('./lib.mjs').OrderCancelled} e */
    OrderCancelled(db, e) {
      const r = db.reservations[e.orderId];
      if (!r) { db.reservations[e.orderId] = { status: 'RELEASED', items: [] }; return `${e.orderId} cancelled before it was reserved`; }
      if (r.status === 'RELEASED') return `${e.orderId} was already released`;
      for (const i of r.items) db.stock[i.sku] = (db.stock[i.sku] ?? 0) + i.qty;
      r.status = 'RELEASED';
      return `released ${listed(r.items, db.stock)}: ${e.orderId} was cancelled`;
    },
  },
});
