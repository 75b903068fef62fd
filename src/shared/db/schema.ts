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
  schema_migrations: SchemaMigrationsTable;
}

export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type PersonRow = Selectable<PeopleTable>;
export type StageChangeRow = Selectable<StageChangesTable>;
export type NewStageChange = Insertable<StageChangesTable>;
export type StageChangeUpdate = Updateable<StageChangesTable>;
