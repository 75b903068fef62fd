import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

export type WebhookEventStatus = 'received' | 'processing' | 'completed' | 'failed' | 'ignored' | 'dead';

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  received_at: Generated<Date>;
  path: string;
  raw_body: string;
  /** SHA-256 of raw_body (UTF-8), unique: the same body again is a replay; null on rows older than migration 006. */
  body_sha256: Buffer | null;
  /** Every arrival of these bytes counts in event_count and duplicate_count; replays after the first here. */
  event_count: number;
  duplicate_count: number;
  replay_count: Generated<number>;
  last_replayed_at: Date | null;
}

export interface WebhookEventsTable {
  id: Generated<number>;
  event_id: string;
  delivery_id: number;
  event: string;
  resource_ids: number[];
  event_created: Date | null;
  /** Stored as `json` (not jsonb) so any payload FUB signs can be kept verbatim, NUL escapes included. */
  payload: ColumnType<unknown, string, string>;
  received_at: Generated<Date>;
  status: Generated<WebhookEventStatus>;
  attempts: Generated<number>;
  next_attempt_at: Generated<Date>;
  locked_by: string | null;
  locked_until: Date | null;
  processed_at: Date | null;
  error_message: string | null;
}

export interface PeopleTable {
  person_id: number;
  first_name: string | null;
  last_name: string | null;
  /** The stage the person's history ends in (name as recorded, and FUB's id). */
  stage: string | null;
  stage_id: number | null;
  stage_changed_at: Date | null;
  assigned_user_id: number | null;
  assigned_user_name: string | null;
  /** FUB's person `source` at the last read. */
  lead_source: string | null;
  /** FUB's stage for the person at the last poll (monitoring compares it with our last row). */
  fub_stage: string | null;
  fub_stage_id: number | null;
  /** FUB's `updated` at the last read we kept (the poller skips people whose read has not changed). */
  fub_updated_at: Date | null;
  fub_stage_seen_at: Date | null;
  /** When FUB said the person was deleted (peopleDeleted); their history is kept. */
  deleted_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** What a row of stage_changes stands for; only `first_seen` is not an arrival. */
export type StageChangeKind = 'move' | 'created' | 'first_seen';

export interface StageChangesTable {
  id: Generated<number>;
  person_id: number;
  first_name: string | null;
  last_name: string | null;
  kind: ColumnType<StageChangeKind, StageChangeKind | undefined, StageChangeKind>;
  stage_from: string | null;
  stage_from_id: number | null;
  stage_to: string;
  stage_to_id: number | null;
  /** FUB's second of the change, on FUB's clock. */
  changed_at: Date;
  /** Order among the person's rows with the same `changed_at` (0 first). */
  seq: ColumnType<number, number | undefined, number>;
  received_at: Date;
  source: string;
  event_id: string | null;
  assigned_user_id: number | null;
  assigned_user_name: string | null;
  /** The person's lead source as known when the row was recorded. */
  lead_source: ColumnType<string | null, string | null | undefined, string | null>;
  recorded_at: Generated<Date>;
}

export type EvidenceKind = 'move' | 'unnamed_move' | 'snapshot';

export interface StageEvidenceTable {
  id: Generated<number>;
  person_id: number;
  kind: EvidenceKind;
  at: Date;
  stage: string | null;
  stage_id: number | null;
  read_at: Date | null;
  person_created_at: Date | null;
  source: string;
  event_id: string | null;
  received_at: Date;
  recorded_at: Generated<Date>;
}

export interface StagesTable {
  stage_id: number;
  name: string;
  updated_at: Generated<Date>;
}

export interface StageNamesTable {
  name: string;
  stage_id: number;
  seen_at: Generated<Date>;
}

export interface CollectorStateTable {
  id: Generated<boolean>;
  watching_since: Date | null;
}


export type PollRunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';
export type PollMode = 'incremental' | 'full';

export interface PollRunsTable {
  id: Generated<number>;
  mode: PollMode;
  started_at: Generated<Date>;
  finished_at: Date | null;
  status: Generated<PollRunStatus>;
  watermark: Date | null;
  complete_as_of: Date | null;
  pages: Generated<number>;
  people_seen: Generated<number>;
  changes_inserted: Generated<number>;
  changes_skipped_as_duplicate: Generated<number>;
  api_calls: Generated<number>;
  error: string | null;
}

export interface PollStateTable {
  id: Generated<boolean>;
  backfill_cursor: string | null;
  backfill_started_at: Date | null;
  backfill_people_seen: Generated<number>;
  descending_sort: boolean | null;
  updated_at: Generated<Date>;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  checksum: string;
  applied_at: Generated<Date>;
}

export interface Database {
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_events: WebhookEventsTable;
  people: PeopleTable;
  stage_changes: StageChangesTable;
  stage_evidence: StageEvidenceTable;
  stages: StagesTable;
  stage_names: StageNamesTable;
  collector_state: CollectorStateTable;
  poll_runs: PollRunsTable;
  poll_state: PollStateTable;
  schema_migrations: SchemaMigrationsTable;
  alert_conditions: AlertConditionsTable;
  alert_daily_summaries: AlertDailySummariesTable;
}

export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type PersonRow = Selectable<PeopleTable>;
export type StageChangeRow = Selectable<StageChangesTable>;
export type NewStageChange = Insertable<StageChangesTable>;
export type StageChangeUpdate = Updateable<StageChangesTable>;
export type StageEvidenceRow = Selectable<StageEvidenceTable>;
export type PollRunRow = Selectable<PollRunsTable>;

export interface AlertConditionsTable {
  key: string;
  active: boolean;
  detail: string;
  active_since: Date | null;
  notified: Generated<boolean>;
  last_alert_at: Date | null;
  updated_at: Date;
}

export interface AlertDailySummariesTable {
  summary_of: string;
  sent_at: Date;
}
