import { ConfigError } from './config.js';
import { FubApiError } from './fub/fub-client.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', '28P01', '28000', '3D000']);

/** A mistake in how a command was called (arguments), explained by its message alone. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One sentence an operator can act on, for any error a command can end with. */
export function explainError(error: unknown): string {
  if (error instanceof ConfigError) return `${error.message}\nSee .env.example and the README's configuration table.`;
  if (error instanceof FubApiError) return `Follow Up Boss: ${error.message}`;
  if (error === null || error === undefined) return 'failed without an error message';
  const message = messageOf(error);
  const listen = listenProblem(error);
  if (listen !== undefined) return listen;
  if (isConnectionError(error)) {
    return `Cannot reach the database (${message}). Check DATABASE_URL, or unset it to use the embedded PostgreSQL (local use only).`;
  }
  return message;
}

/**
 * True for failures an operator causes or fixes (configuration, an unreachable or refusing database or
 * FUB, a bad argument): their explanation is enough. Anything else is a bug, worth its stack trace.
 */
export function isExpectedError(error: unknown): boolean {
  if (error instanceof ConfigError || error instanceof FubApiError || error instanceof UsageError) return true;
  if (error === null || typeof error !== 'object') return false;
  // PostgreSQL's own answers (a missing database, a refused password, a statement cancelled) carry a severity.
  if ('severity' in error && 'code' in error) return true;
  if (/^Migration \d+_/.test(messageOf(error))) return true;
  if (listenProblem(error) !== undefined) return true;
  return isConnectionError(error);
}

function messageOf(error: unknown): string {
  const code = (error as { code?: string }).code;
  // Node's connection errors come as an AggregateError (one per address) with an empty message.
  return (error as Error).message || code || String(error);
}

function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return (code !== undefined && CONNECTION_CODES.has(code)) || /connect|timeout exceeded when trying|Query read timeout/i.test(messageOf(error));
}

/** The server could not listen on its port (taken, or not allowed): the operator's to fix, with PORT. */
function listenProblem(error: unknown): string | undefined {
  const { code, syscall, port } = (error ?? {}) as { code?: string; syscall?: string; port?: number };
  if (syscall !== 'listen') return undefined;
  if (code === 'EADDRINUSE') return `Port ${port} is already in use (another copy of the service?): stop that, or set PORT to a free port.`;
  if (code === 'EACCES') return `Port ${port} may not be opened by this user: set PORT to a port from 1024 up.`;
  return undefined;
}
