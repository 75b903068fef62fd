import { ConfigError, loadConfig } from '../../src/shared/config.js';

/** The problems loadConfig names for `env` (none: []). */
export function problemsOf(env: Record<string, string>, purpose?: Parameters<typeof loadConfig>[1]): string[] {
  try {
    loadConfig(env, purpose);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
