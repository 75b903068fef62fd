import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Db } from './db/database.js';

// Two levels up from both src/shared and dist/shared is the project root.
const MONITORING_DIR = fileURLToPath(new URL('../../monitoring/', import.meta.url));

export type MonitoringQuery =
  | 'source_health'
  | 'inbox_status'
  | 'dead_letters'
  | 'stage_changes_per_day'
  | 'stage_disagreements'
  | 'time_in_stage'
  | 'poll_runs';

/** Runs one of the operator's SQL files in monitoring/ exactly as a person would paste it. */
export async function runMonitoringQuery<Row = Record<string, unknown>>(db: Db, name: MonitoringQuery): Promise<Row[]> {
  const text = await readFile(`${MONITORING_DIR}${name}.sql`, 'utf8');
  const { rows } = await sql.raw<Row>(text).execute(db);
  return rows;
}
