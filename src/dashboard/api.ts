/** Calls to /v1 with the token the user typed; errors carry the API's code and message. */

const KEY = 'edgemq.token';

/** The token: in sessionStorage (this tab) unless the user asked to be remembered (localStorage). */
export const tokenStore = {
  get(): string | null {
    try { return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY); } catch { return null; }
  },
  set(token: string, remember: boolean): void {
    this.clear();
    (remember ? localStorage : sessionStorage).setItem(KEY, token);
  },
  clear(): void {
    try { sessionStorage.removeItem(KEY); localStorage.removeItem(KEY); } catch { /* storage disabled */ }
  },
};

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

let unauthorized: (e: ApiError) => void = () => undefined;
/** Called on any 401: the app shows the login form. */
export function onUnauthorized(f: (e: ApiError) => void): void { unauthorized = f; }

export interface CallOpts { token?: string | null; quiet401?: boolean }

export async function call<T>(method: string, path: string, body?: unknown, opts: CallOpts = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = opts.token !== undefined ? opts.token : tokenStore.get();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', `could not reach the server (${(e as Error).message}); is it running?`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const err = new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? (text.slice(0, 300) || res.statusText));
    if (res.status === 401 && !opts.quiet401) unauthorized(err);
    throw err;
  }
  return json as T;
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {});
export const put = <T>(path: string, body?: unknown) => call<T>('PUT', path, body ?? {});
export const patch = <T>(path: string, body?: unknown) => call<T>('PATCH', path, body ?? {});
export const del = (path: string) => call<void>('DELETE', path);

/** One path segment: topic and group names, message ids (%DLQ%g becomes %25DLQ%25g). */
export const seg = (s: string) => encodeURIComponent(s);

/** A query string from the defined values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
