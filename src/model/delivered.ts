/**
 * A delivered message as the API's JSON text, written once in the Broker: push frames and pull
 * answers carry it as it is. Built as objects instead, every pushed message was an object, a copy
 * of it (the delivery's fields spread in) and its JSON; every pulled one was also cloned across
 * the RPC into the Worker and encoded there again. A JSON body is stored as its own JSON text
 * (`Rec.b`, as JSON.stringify wrote it), so it goes in as it is, not parsed and encoded again.
 *
 * The text is exactly JSON.stringify of the message's public form (presentMessage) with
 * `deliveryAttempt` and `receiptHandle` after it: test/workers/delivered.test.ts checks it.
 */
import { bodyOf, ENC_NAME, type Rec } from './message';

/** The messages leased by one delivery: their receipt handles, and their texts joined by commas. */
export interface Delivery { handles: string[]; text: string }
export const NO_DELIVERY: Delivery = Object.freeze({ handles: [], text: '' }) as Delivery;

/** What a delivered message says of where it is, the same for every message of a delivery. */
export interface DeliveryPlace { topic: string; queueId: number }

/** The public form of a stored message, as an object (message query, status, dead letters). */
export function presentMessage(rec: Rec, messageId: string, off: number, ts: number, place: DeliveryPlace): Record<string, unknown> {
  const m: Record<string, unknown> = {
    messageId, topic: place.topic, queueId: place.queueId, queueOffset: off, body: bodyOf(rec), encoding: ENC_NAME[rec.e],
  };
  if (rec.t !== undefined) m.tag = rec.t;
  if (rec.k) m.keys = rec.k;
  if (rec.p) m.properties = rec.p;
  if (rec.g !== undefined) m.messageGroup = rec.g;
  m.bornTimestamp = rec.bt;
  m.storeTimestamp = ts;
  if (rec.da !== undefined) m.deliverAt = rec.da;
  return m;
}

/**
 * The encoder for one delivery: `messageId` is the message's id, `off` and `ts` its offset and
 * store time, `handle` its receipt handle.
 */
export function deliveredEncoder(place: DeliveryPlace) {
  const head = `,"topic":${JSON.stringify(place.topic)},"queueId":${place.queueId},"queueOffset":`;
  return (rec: Rec, messageId: string, off: number, ts: number, attempt: number, handle: string): string => {
    let s = `{"messageId":${JSON.stringify(messageId)}${head}${off},"body":${rec.e === 1 ? rec.b : JSON.stringify(rec.b)},"encoding":"${ENC_NAME[rec.e]}"`;
    if (rec.t !== undefined) s += `,"tag":${JSON.stringify(rec.t)}`;
    if (rec.k) s += `,"keys":${JSON.stringify(rec.k)}`;
    if (rec.p) s += `,"properties":${JSON.stringify(rec.p)}`;
    if (rec.g !== undefined) s += `,"messageGroup":${JSON.stringify(rec.g)}`;
    s += `,"bornTimestamp":${rec.bt},"storeTimestamp":${ts}`;
    if (rec.da !== undefined) s += `,"deliverAt":${rec.da}`;
    return `${s},"deliveryAttempt":${attempt},"receiptHandle":${JSON.stringify(handle)}}`;
  };
}
