#!/usr/bin/env node
// @ts-check
/**
 * The notification service: tells the customer about every change of their order (here: writes
 * the e-mail to its outbox). Group `notification`, tag filter `*` (everything on the topic).
 *
 *   EDGEMQ_URL=http://127.0.0.1:8787 node examples/order-workflow/notification.mjs
 */
import { GROUPS, money, runConsumerService, span } from './lib.mjs';

/** @typedef {{ outbox: { to: string, subject: string, at: number }[] }} Notification */

/** @param {Notification} db @param {string} to @param {string} subject */
function mail(db, to, subject) {
  db.outbox.push({ to, subject, at: Date.now() });
  return `e-mail to ${to}: "${subject}"`;
}

await runConsumerService({
  service: 'notification',
  group: GROUPS.notification,
  filter: '*',
  initial: /** @type {Notification} */ ({ outbox: [] }),
  effects: {
    /** @param {Notification} db @param {import('./lib.mjs').OrderCreated} e */
    OrderCreated: (db, e) => mail(db, e.customer.email,
      `We have your order ${e.orderId} (${money(e.amount)}): please pay within ${span(e.payBy - e.createdAt)}`),
    /** @param {Notification} db @param {import('./lib.mjs').OrderPaid} e */
    OrderPaid: (db, e) => mail(db, e.customer.email, `Payment of ${money(e.amount)} received: ${e.orderId} is on its way`),
    /** @param {Notification} db @param {import('./lib.mjs').OrderCancelled} e */
    OrderCancelled: (db, e) => mail(db, e.customer.email, `Order ${e.orderId} was cancelled: ${e.reason}`),
  },
});
