#!/usr/bin/env node
// @ts-check
/**
 * The logistics service: prepares a shipment when an order is created, dispatches it once the
 * order is paid, and voids it when the order is cancelled. Group `logistics`, tag filter
 * `OrderCreated || OrderPaid || OrderCancelled`.
 *
 *   EDGEMQ_URL=http://127.0.0.1:8787 node examples/order-workflow/logistics.mjs
 */
import { GROUPS, runConsumerService } from './lib.mjs';

/** @typedef {{ shipments: Record<string, { status: 'AWAITING_PAYMENT' | 'DISPATCHED' | 'VOIDED', tracking?: string }> }} Logistics */

await runConsumerService({
  service: 'logistics',
  group: GROUPS.logistics,
  filter: 'OrderCreated || OrderPaid || OrderCancelled',
  initial: /** @type {Logistics} */ ({ shipments: {} }),
  effects: {
    /** @param {Logistics} db @param {import('./lib.mjs').OrderCreated} e */
    OrderCreated(db, e) {
      // payment (or cancellation) may be seen first: a shipment never goes back to waiting
      if (db.shipments[e.orderId]) return `shipment for ${e.orderId} is already ${db.shipments[e.orderId].status.toLowerCase()}`;
      db.shipments[e.orderId] = { status: 'AWAITING_PAYMENT' };
      return `shipment for ${e.orderId} prepared (${e.items.length} line${e.items.length === 1 ? '' : 's'}), waiting for payment`;
    },
    /** @param {Logistics} db @param {import('./lib.mjs').OrderPaid} e */
    OrderPaid(db, e) {
      const tracking = `TRK-${e.orderId.toUpperCase()}`;
      db.shipments[e.orderId] = { status: 'DISPATCHED', tracking };
      return `dispatched ${e.orderId}, tracking ${tracking}`;
    },
    /** @param {Logistics} db @param {import('./lib.mjs').OrderCancelled} e */
    OrderCancelled(db, e) {
      db.shipments[e.orderId] = { status: 'VOIDED' };
      return `shipment for ${e.orderId} voided`;
    },
  },
});
