import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { StageObservation } from './record-stage.js';

/**
 * The first known stage of people we have no history for, in one statement for a whole page (a
 * full walk of 60,000 people is otherwise 60,000 transactions). Returns the ids it recorded; anyone
 * else (a webhook got there first, or old rows exist) must go through recordStageObservation.
 * Safe against concurrent writers: a person's row is created here or by them, never both.
 */
export async function recordFirstSightings(db: Db, all: StageObservation[]): Promise<Set<number>> {
  const observations = [...new Map(all.map((o) => [o.personId, o])).values()];
  if (observations.length === 0) return new Set();
  const col = <T>(pick: (o: StageObservation) => T): T[] => observations.map(pick);
  const { rows } = await sql<{ person_id: number }>`
    WITH input AS (
      SELECT * FROM unnest(
        ${col((o) => o.personId)}::bigint[], ${col((o) => o.stage)}::text[], ${col((o) => o.observedAt)}::timestamptz[],
        ${col((o) => o.receivedAt)}::timestamptz[], ${col((o) => o.source)}::text[], ${col((o) => o.eventId)}::text[],
        ${col((o) => o.details?.firstName ?? null)}::text[], ${col((o) => o.details?.lastName ?? null)}::text[],
        ${col((o) => o.details?.assignedUserId ?? null)}::bigint[], ${col((o) => o.details?.assignedUserName ?? null)}::text[]
      ) AS u(person_id, stage, observed_at, received_at, source, event_id, first_name, last_name, assigned_user_id, assigned_user_name)
    ), created AS (
      INSERT INTO people (person_id, first_name, last_name, stage, stage_changed_at, assigned_user_id, assigned_user_name)
      SELECT person_id, first_name, last_name, stage, observed_at, assigned_user_id, assigned_user_name FROM input
      WHERE NOT EXISTS (SELECT 1 FROM stage_changes s WHERE s.person_id = input.person_id)
      ON CONFLICT (person_id) DO NOTHING
      RETURNING person_id
    )
    INSERT INTO stage_changes (person_id, first_name, last_name, stage_from, stage_to, changed_at, confirmed_at,
                               received_at, source, event_id, assigned_user_id, assigned_user_name)
    SELECT i.person_id, i.first_name, i.last_name, NULL, i.stage, i.observed_at, i.observed_at,
           i.received_at, i.source, i.event_id, i.assigned_user_id, i.assigned_user_name
    FROM input i JOIN created USING (person_id)
    RETURNING person_id`.execute(db);
  return new Set(rows.map((r) => r.person_id));
}
