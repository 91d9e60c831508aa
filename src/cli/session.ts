/** The SDK clients a command talks through, made from --url/--token (or EDGEMQ_URL/EDGEMQ_TOKEN). */
import { Admin } from '../client/admin';
import type { ClientOptions } from '../client/http';
import { Producer } from '../client/producer';
import { SimpleConsumer, type SimpleConsumerOptions } from '../client/simple-consumer';
import type { Context } from './args';

/** A person is waiting: a few quick retries, then say what is wrong. */
const options = (ctx: Context): ClientOptions => ({
  url: ctx.url, token: ctx.token, timeoutMs: 30_000, retry: { retries: 2, initialMs: 200, maxMs: 2000 },
});

export const admin = (ctx: Context) => new Admin(options(ctx));
export const producer = (ctx: Context) => new Producer(options(ctx));
export const simpleConsumer = (ctx: Context, o: Omit<SimpleConsumerOptions, keyof ClientOptions>) => new SimpleConsumer({ ...options(ctx), ...o });
