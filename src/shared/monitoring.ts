import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Db } from './db/database.js';

// Two levels up from both src/shared and dist/shared is the project root.
const MONITORING_DIR = fileURLToPath(new URL('../../monitoring/', import.meta.url));

// Each question is one file in monitoring/, the only copy: an operator pastes it into psql, and the
// report, the dashboard's API and the alerts run the same text. Parameters are settings the file
// reads with current_setting('fub.<name>', true) and its own defaults, set for one transaction only.
export type MonitoringQuery =
  | 'source_health'
  | 'inbox_status'
  | 'dead_letters'
  | 'stage_changes_per_day'
  | 'stage_disagreements'
  | 'time_in_stage'
  | 'poll_runs'
  | 'conversion'
  | 'recent_moves'
  | 'stages';

export interface MonitoringOptions {
  /** IANA zone whose days the query counts in (BUSINESS_TIMEZONE); the server's setting when absent. */
  timeZone?: string;
  /** Values of the file's `fub.<name>` parameters; undefined or '' means the file's default. */
  params?: Readonly<Record<string, string | undefined>>;
}

const texts = new Map<MonitoringQuery, Promise<string>>();

/** Runs one of the operator's SQL files in monitoring/ as a person would paste it, with its parameters set. */
export async function runMonitoringQuery<Row = Record<string, unknown>>(db: Db, name: MonitoringQuery, options: MonitoringOptions = {}): Promise<Row[]> {
  let text = texts.get(name);
  if (text === undefined) {
    text = readFile(`${MONITORING_DIR}${name}.sql`, 'utf8');
    texts.set(name, text);
    text.catch(() => texts.delete(name));
  }
  const query = await text;
  const settings: (readonly [string, string])[] = Object.entries(options.params ?? {}).map(([key, value]) => {
    if (!/^[a-z_]+$/.test(key)) throw new Error(`monitoring parameter names are lower-case words: ${key}`);
    return [`fub.${key}`, value ?? ''] as const;
  });
  if (options.timeZone !== undefined) settings.push(['TimeZone', options.timeZone]);
  if (settings.length === 0) return (await sql.raw<Row>(query).execute(db)).rows;
  // set_config(..., true) lasts until the transaction ends: a pooled connection keeps nothing.
  const run = async (trx: Db): Promise<Row[]> => {
    await sql`SELECT set_config(k, v, true) FROM unnest(${settings.map(([k]) => k)}::text[], ${settings.map(([, v]) => v)}::text[]) AS u(k, v)`.execute(trx);
    return (await sql.raw<Row>(query).execute(trx)).rows;
  };
  // Inside the caller's transaction (a daily summary), the settings last until it ends.
  return db.isTransaction ? run(db) : db.transaction().execute(run);
}
