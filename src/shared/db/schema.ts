import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

export type WebhookEventStatus = 'received' | 'processing' | 'completed' | 'failed' | 'ignored' | 'dead';

export interface WebhookDeliveriesTable {
  id: Generated<number>;
  received_at: Generated<Date>;
  path: string;
  raw_body: string;
  event_count: number;
  duplicate_count: number;
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
  stage: string | null;
  stage_changed_at: Date | null;
  assigned_user_id: number | null;
  assigned_user_name: string | null;
  /** FUB's stage for the person at the last poll (monitoring compares it with our last row). */
  fub_stage: string | null;
  fub_stage_seen_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface StageChangesTable {
  id: Generated<number>;
  person_id: number;
  first_name: string | null;
  last_name: string | null;
  stage_from: string | null;
  stage_to: string;
  changed_at: Date;
  confirmed_at: Date;
  received_at: Date;
  source: string;
  event_id: string | null;
  assigned_user_id: number | null;
  assigned_user_name: string | null;
  recorded_at: Generated<Date>;
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
  poll_runs: PollRunsTable;
  poll_state: PollStateTable;
  schema_migrations: SchemaMigrationsTable;
}

export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type PersonRow = Selectable<PeopleTable>;
export type StageChangeRow = Selectable<StageChangesTable>;
export type NewStageChange = Insertable<StageChangesTable>;
export type StageChangeUpdate = Updateable<StageChangesTable>;
export type PollRunRow = Selectable<PollRunsTable>;
