/** Issued tokens, kept as SHA-256 hashes of their secrets (the secret is shown once). */
import type { Permission } from '../model/schemas';

export interface TokenRecord { name: string; permissions: Permission[]; createdAt: number }

export class Tokens {
  constructor(private sql: SqlStorage) {}

  create(name: string, hash: string, permissions: Permission[], now: number): TokenRecord | null {
    if (this.sql.exec('SELECT 1 FROM tokens WHERE name = ?', name).toArray().length) return null;
    this.sql.exec('INSERT INTO tokens (name, hash, permissions, created_at) VALUES (?, ?, ?, ?)', name, hash, JSON.stringify(permissions), now);
    return { name, permissions, createdAt: now };
  }

  byHash(hash: string): TokenRecord | null {
    const r = this.sql.exec<{ name: string; permissions: string; created_at: number }>(
      'SELECT name, permissions, created_at FROM tokens WHERE hash = ?', hash).toArray()[0];
    return r ? { name: r.name, permissions: JSON.parse(r.permissions), createdAt: r.created_at } : null;
  }

  list(): TokenRecord[] {
    return this.sql.exec<{ name: string; permissions: string; created_at: number }>(
      'SELECT name, permissions, created_at FROM tokens ORDER BY name').toArray()
      .map((r) => ({ name: r.name, permissions: JSON.parse(r.permissions), createdAt: r.created_at }));
  }

  revoke(name: string): boolean {
    return this.sql.exec('DELETE FROM tokens WHERE name = ? RETURNING name', name).toArray().length > 0;
  }
}
