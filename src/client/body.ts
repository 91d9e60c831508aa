/** A received message's body in the form you want, whatever its encoding. */
import type { Message } from './types';

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The body as bytes: decoded base64, or the UTF-8 of the text (JSON bodies as JSON text). */
export function bodyBytes(m: Pick<Message, 'body' | 'encoding'>): Uint8Array {
  if (m.encoding === 'base64') return fromBase64(String(m.body));
  return new TextEncoder().encode(bodyText(m));
}

/** The body as text: the text itself, JSON text for JSON bodies, or decoded base64 as UTF-8. */
export function bodyText(m: Pick<Message, 'body' | 'encoding'>): string {
  if (m.encoding === 'base64') return new TextDecoder().decode(fromBase64(String(m.body)));
  if (m.encoding === 'json') return JSON.stringify(m.body);
  return String(m.body);
}
