import { sql } from 'kysely';
import { arrayLiteral, type ArrayElement } from '../db/array-literal.js';
import type { Db } from '../db/database.js';
import type { SnapshotEvidence } from './evidence.js';
import type { PersonDetails } from './people.repository.js';

export interface FirstRead {
  personId: number;
  snapshot: SnapshotEvidence;
  details: PersonDetails;
}

/**
 * People read for the first time with nothing known about them, in one statement for a whole page (a
 * full walk of 60,000 people is otherwise 60,000 transactions): their read is stored and their first
 * row written exactly as a rebuild would write it (created at `created` if FUB created them while we
 * were watching, else a first sighting). Returns the ids it recorded; anyone else (a webhook got there
 * first) must go through recordPersonReports.
 */
export async function recordFirstSightings(db: Db, all: FirstRead[]): Promise<Set<number>> {
  const reads = [...new Map(all.map((r) => [r.personId, r])).values()];
  if (reads.length === 0) return new Set();
  const col = (pick: (r: FirstRead) => ArrayElement): string => arrayLiteral(reads.map(pick));
  const { rows } = await sql<{ person_id: number }>`
    WITH input AS (
      SELECT u.*, coalesce(u.given_stage_id, (SELECT n.stage_id FROM stage_names n WHERE n.name = u.stage)) AS stage_id,
             (u.person_created_at IS NOT NULL AND w.watching_since IS NOT NULL
               AND u.person_created_at >= w.watching_since AND u.person_created_at <= u.at) AS arrived
      FROM unnest(
        ${col((r) => r.personId)}::bigint[], ${col((r) => r.snapshot.stage.name)}::text[], ${col((r) => r.snapshot.stage.id)}::bigint[],
        ${col((r) => r.snapshot.at)}::timestamptz[], ${col((r) => r.snapshot.readAt)}::timestamptz[],
        ${col((r) => r.snapshot.personCreatedAt)}::timestamptz[], ${col((r) => r.snapshot.source)}::text[],
        ${col((r) => r.snapshot.eventId)}::text[], ${col((r) => r.snapshot.receivedAt)}::timestamptz[],
        ${col((r) => r.details.firstName ?? null)}::text[], ${col((r) => r.details.lastName ?? null)}::text[],
        ${col((r) => r.details.assignedUserId ?? null)}::bigint[], ${col((r) => r.details.assignedUserName ?? null)}::text[],
        ${col((r) => r.details.leadSource ?? null)}::text[]
      ) AS u(person_id, stage, given_stage_id, at, read_at, person_created_at, source, event_id, received_at,
             first_name, last_name, assigned_user_id, assigned_user_name, lead_source)
      LEFT JOIN collector_state w ON true
    ), created AS (
      INSERT INTO people (person_id, first_name, last_name, stage, stage_id, stage_changed_at, assigned_user_id, assigned_user_name,
                          lead_source, fub_stage, fub_stage_id, fub_updated_at, fub_stage_seen_at)
      SELECT person_id, first_name, last_name, stage, stage_id, CASE WHEN arrived THEN person_created_at ELSE at END,
             assigned_user_id, assigned_user_name, lead_source, stage, stage_id, at, coalesce(read_at, at)
      FROM input
      WHERE NOT EXISTS (SELECT 1 FROM stage_evidence e WHERE e.person_id = input.person_id)
      ON CONFLICT (person_id) DO NOTHING
      RETURNING person_id
    ), evidence AS (
      INSERT INTO stage_evidence (person_id, kind, at, stage, stage_id, read_at, person_created_at, source, event_id, received_at)
      SELECT i.person_id, 'snapshot', i.at, i.stage, i.given_stage_id, i.read_at, i.person_created_at, i.source, i.event_id, i.received_at
      FROM input i JOIN created USING (person_id)
    )
    INSERT INTO stage_changes (person_id, first_name, last_name, kind, stage_from, stage_to, stage_to_id, changed_at, seq,
                               received_at, source, event_id, assigned_user_id, assigned_user_name, lead_source)
    SELECT i.person_id, i.first_name, i.last_name, CASE WHEN i.arrived THEN 'created' ELSE 'first_seen' END, NULL, i.stage, i.stage_id,
           CASE WHEN i.arrived THEN i.person_created_at ELSE i.at END, 0, i.received_at, i.source, i.event_id,
           i.assigned_user_id, i.assigned_user_name, i.lead_source
    FROM input i JOIN created USING (person_id)
    RETURNING person_id`.execute(db);
  return new Set(rows.map((r) => r.person_id));
}
