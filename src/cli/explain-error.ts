import { ConfigError } from '../shared/config.js';
import { FubApiError } from '../shared/fub/fub-client.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', '28P01', '28000', '3D000']);

/** One sentence an operator can act on, for any error a command can end with. */
export function explainError(error: unknown): string {
  if (error instanceof ConfigError) return `${error.message}\nSee .env.example and the README's configuration table.`;
  if (error instanceof FubApiError) return `Follow Up Boss: ${error.message}`;
  if (error === null || error === undefined) return 'failed without an error message';
  const code = (error as { code?: string }).code;
  // Node's connection errors come as an AggregateError (one per address) with an empty message.
  const message = (error as Error).message || code || String(error);
  if ((code && CONNECTION_CODES.has(code)) || /connect|timeout exceeded when trying/i.test(message)) {
    return `Cannot reach the database (${message}). Check DATABASE_URL, or unset it to use the embedded PostgreSQL.`;
  }
  return message;
}
