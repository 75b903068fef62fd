// The least the collector's recording writes can cost, as it makes them: the very rows it wrote in a
// run (its people, evidence, stage_changes and inbox rows, as they are), written again with nothing
// else, one set-based statement per table for the whole run, and the inbox's claim and finish as it
// does them. No history read, no lock, no round trip per batch, no rebuild. Set beside what recording
// costs in the same run, it shows how much of that is the writes themselves.
import pg from 'pg';
import { pino } from 'pino';
import { sql } from 'kysely';
import type { Db } from '../src/shared/db/database.js';
import { postgresCpuByPid, postgresCpuSince } from './support.js';

/** Copies of the collector's rows, kept out of the tables the benchmark empties between runs. */
const KEPT = {
  floor_people: 'people',
  floor_evidence: 'stage_evidence',
  floor_changes: 'stage_changes',
  floor_events: 'webhook_events',
  floor_bodies: 'webhook_deliveries',
} as const;

/** Keeps what the collector wrote in the run just ended (call it once every event is recorded). */
export async function keepCollectorRows(db: Db): Promise<void> {
  for (const [copy, table] of Object.entries(KEPT)) {
    await sql.raw(`DROP TABLE IF EXISTS ${copy}; CREATE TABLE ${copy} AS TABLE ${table}`).execute(db);
  }
}

export interface FloorPart {
  name: string;
  /** PostgreSQL's CPU per recorded event, µs. */
  us: number;
}

export interface RecordingFloor {
  events: number;
  /** The rows recording writes (people, evidence, stage_changes); the inbox's claim and finish follow. */
  rows: FloorPart[];
  claim: FloorPart;
  finish: FloorPart;
  /** Node reading each event back from the inbox (the columns the claim returns) and logging one line for it, and PostgreSQL's part in the read. */
  readAndLog: { node: FloorPart; postgres: FloorPart };
  /** The baseline server's one INSERT per webhook, for the same bodies, set-based as well. */
  baseline: FloorPart;
}

/**
 * Writes the kept rows again into emptied tables, one statement each, on one connection, and counts
 * PostgreSQL's CPU for each (every PostgreSQL process, as the ingestion runs count it). One checkpoint
 * first, as a run starts after one: each page's first change after it is logged whole, once.
 */
export async function measureRecordingFloor(db: Db, url: string): Promise<RecordingFloor> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM floor_events');
    const events = rows[0]!.n;
    if (events === 0) throw new Error('no kept events: keepCollectorRows after a collector run first');
    // As the service's connections are: a statement this big would otherwise be JIT-compiled, which
    // the service's batches never are.
    await client.query('SET jit = off');
    await client.query('TRUNCATE webhook_events, webhook_deliveries, people, stage_changes, stage_evidence');
    await client.query('DROP TABLE IF EXISTS floor_baseline; CREATE TABLE floor_baseline (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)');
    await client.query('CHECKPOINT');
    const cost = async (name: string, statement: string): Promise<FloorPart> => {
      const before = postgresCpuByPid();
      const result = await client.query(statement);
      if (result.rowCount === 0) throw new Error(`${name}: wrote nothing`);
      return { name, us: (postgresCpuSince(before) * 1e6) / events };
    };
    const people = await cost('people (one write each, as the run left them)', 'INSERT INTO people SELECT * FROM floor_people');
    const evidence = await cost('evidence (stage_evidence, 3 indexes)', 'INSERT INTO stage_evidence SELECT * FROM floor_evidence');
    const changes = await cost("stage_changes (8 indexes and the dashboard's rollup triggers)", 'INSERT INTO stage_changes SELECT * FROM floor_changes');
    // The inbox rows as received (receiving's work, not counted), then recording's claim and finish.
    await client.query(`INSERT INTO webhook_events SELECT * FROM floor_events`);
    await client.query(
      `UPDATE webhook_events SET status = 'received', attempts = 0, locked_by = NULL, locked_until = NULL, processed_at = NULL, error_message = NULL, next_attempt_at = received_at`,
    );
    const claim = await cost(
      "the inbox's claim",
      `UPDATE webhook_events AS e SET status = 'processing', attempts = e.attempts + 1, locked_by = 'floor', locked_until = now() + interval '60 seconds'
       FROM (SELECT id FROM webhook_events WHERE status IN ('received', 'failed') AND next_attempt_at <= now() ORDER BY next_attempt_at, id FOR UPDATE SKIP LOCKED) AS due
       WHERE e.id = due.id`,
    );
    const finish = await cost(
      "the inbox's finish",
      `UPDATE webhook_events SET status = 'completed', locked_by = NULL, locked_until = NULL, processed_at = now(), error_message = NULL WHERE locked_by = 'floor' AND status = 'processing'`,
    );
    const baseline = await cost("baseline: the bare server's INSERT of each body", 'INSERT INTO floor_baseline (body) SELECT raw_body FROM floor_bodies');
    return { events, rows: [people, evidence, changes], claim, finish, baseline, readAndLog: await readAndLog(db, events) };
  } finally {
    await client.query(`DROP TABLE IF EXISTS floor_baseline, ${Object.keys(KEPT).join(', ')}`).catch(() => undefined);
    await client.end();
  }
}

/**
 * The least Node does per event: read every event back from the inbox in one query (the claim's
 * columns, through the service's own pool and type parsers) and log one line for each, as the service
 * logs each event it processed, into /dev/null (cheaper than the pipe the service writes to). In this
 * process: it is idle otherwise.
 */
async function readAndLog(db: Db, events: number): Promise<RecordingFloor['readAndLog']> {
  const log = pino({ level: 'info', base: { service: 'fub-collector' } }, pino.destination({ dest: '/dev/null', sync: false }));
  const node = process.cpuUsage();
  const postgres = postgresCpuByPid();
  const rows = await db
    .selectFrom('webhook_events')
    .select(['id', 'event_id', 'event', 'resource_ids', 'event_created', 'received_at', 'attempts', sql<unknown>`CASE WHEN event = 'peopleStageUpdated' THEN payload END`.as('payload')])
    .execute();
  const postgresUs = (postgresCpuSince(postgres) * 1e6) / events;
  for (const row of rows) {
    log.info({ component: 'event-processor', eventId: row.event_id, event: row.event, personId: row.resource_ids[0], attempt: row.attempts, outcome: 'completed', people: 1 }, 'webhook event processed');
  }
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  const used = process.cpuUsage(node);
  if (rows.length !== events) throw new Error(`read back ${rows.length} events of ${events}`);
  return {
    node: { name: 'Node: each event read back from the inbox (the columns the claim returns) and logged once', us: (used.user + used.system) / events },
    postgres: { name: 'PostgreSQL: that read', us: postgresUs },
  };
}
