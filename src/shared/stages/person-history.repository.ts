import { sql } from 'kysely';
import { PREPARED } from '../db/database.js';
import type { Trx } from '../db/database.js';
import type { NewStageChange, StageChangeRow, StageEvidenceRow } from '../db/schema.js';
import type { ChangeRevision } from './diff-history.js';
import { stageKey, type Evidence, type SnapshotEvidence } from './evidence.js';
import type { PersonDetails, PersonState } from './people.repository.js';

// The two statements of a rebuild, each one round trip: store the reports and read back everything
// about the person; then write the rows that changed and the person's state together. Both are
// prepared once per connection (planning them cost more than running them).

/** A stored report as JSON gives it: times as text. */
type EvidenceJson = Omit<StageEvidenceRow, 'id' | 'person_id' | 'recorded_at' | 'at' | 'read_at' | 'person_created_at' | 'received_at'> &
  Record<'at' | 'received_at', string> &
  Record<'read_at' | 'person_created_at', string | null>;
type ChangeJson = Omit<StageChangeRow, 'changed_at' | 'received_at' | 'recorded_at'> & Record<'changed_at' | 'received_at' | 'recorded_at', string>;

export interface PersonRecords {
  /** Reports that were new (or a read that moved its read time on); 0 means nothing to rebuild. */
  stored: number;
  /** Every report about the person, stage ids filled in from the names stages are known by (a webhook names the stage only). */
  evidence: Evidence[];
  /** The person's rows in history order. */
  changes: StageChangeRow[];
  /** Since when (FUB's clock) the collector has been watching. */
  watchingSince: Date | null;
}

/**
 * Stores reports about one person and reads back all of them with the person's rows. A report
 * already stored (the same webhook's move) is skipped, and the same read again only moves its read
 * time on (a later read of the same state says the state held longer). Must hold the person's lock.
 */
export async function storeReportsAndRead(trx: Trx, personId: number, evidence: readonly Evidence[]): Promise<PersonRecords> {
  const moves = evidence.filter((e) => e.kind !== 'snapshot');
  // The same read twice in one batch would make the upsert touch a row twice: keep the later.
  const reads = [...new Map(evidence.filter((e): e is SnapshotEvidence => e.kind === 'snapshot').map((e) => [`${e.at.getTime()}|${stageKey(e.stage)}`, e])).values()];
  const m = <T>(pick: (e: Evidence) => T): T[] => moves.map(pick);
  const r = <T>(pick: (e: SnapshotEvidence) => T): T[] => reads.map(pick);
  const { rows } = await sql<{ stored: number; watching_since: Date | null; evidence: EvidenceJson[]; changes: ChangeJson[] }>`${sql.raw(`${PREPARED}store_reports_and_read */`)}
    WITH moves AS (
      INSERT INTO stage_evidence (person_id, kind, at, stage, stage_id, source, event_id, received_at)
      SELECT ${personId}::bigint, u.* FROM unnest(
        ${m((e) => e.kind)}::text[], ${m((e) => e.at)}::timestamptz[], ${m((e) => (e.kind === 'move' ? e.stage.name : null))}::text[],
        ${m((e) => (e.kind === 'move' ? e.stage.id : null))}::bigint[], ${m((e) => e.source)}::text[], ${m((e) => e.eventId)}::text[],
        ${m((e) => e.receivedAt)}::timestamptz[]) AS u
      ON CONFLICT DO NOTHING
      RETURNING *
    ), reads AS (
      INSERT INTO stage_evidence (person_id, kind, at, stage, stage_id, read_at, person_created_at, source, event_id, received_at)
      SELECT ${personId}::bigint, 'snapshot', u.* FROM unnest(
        ${r((e) => e.at)}::timestamptz[], ${r((e) => e.stage.name)}::text[], ${r((e) => e.stage.id)}::bigint[], ${r((e) => e.readAt)}::timestamptz[],
        ${r((e) => e.personCreatedAt)}::timestamptz[], ${r((e) => e.source)}::text[], ${r((e) => e.eventId)}::text[],
        ${r((e) => e.receivedAt)}::timestamptz[]) AS u
      ON CONFLICT (person_id, at, (coalesce(stage_id::text, stage))) WHERE kind = 'snapshot'
      DO UPDATE SET read_at = excluded.read_at, source = excluded.source, event_id = excluded.event_id, received_at = excluded.received_at
      WHERE stage_evidence.read_at < excluded.read_at
      RETURNING *
    ), fresh AS (
      SELECT * FROM moves UNION ALL SELECT * FROM reads
    ), everything AS (
      -- This statement's snapshot does not see its own writes: stored rows, less the ones just
      -- replaced, plus what was written.
      SELECT * FROM stage_evidence WHERE person_id = ${personId} AND id NOT IN (SELECT id FROM fresh)
      UNION ALL SELECT * FROM fresh
    )
    SELECT (SELECT count(*) FROM fresh)::int AS stored,
           (SELECT watching_since FROM collector_state) AS watching_since,
           (SELECT coalesce(json_agg(json_build_object(
                     'kind', e.kind, 'at', e.at, 'stage', e.stage, 'stage_id', coalesce(e.stage_id, n.stage_id), 'read_at', e.read_at,
                     'person_created_at', e.person_created_at, 'source', e.source, 'event_id', e.event_id, 'received_at', e.received_at)), '[]')
            FROM everything e LEFT JOIN stage_names n ON n.name = e.stage) AS evidence,
           (SELECT coalesce(json_agg(s ORDER BY s.changed_at, s.seq), '[]') FROM stage_changes s WHERE s.person_id = ${personId}) AS changes`.execute(trx);
  const row = rows[0]!;
  const date = (text: string): Date => new Date(text);
  return {
    stored: row.stored,
    watchingSince: row.watching_since,
    evidence: row.evidence.map((e): Evidence => {
      const stage = { id: e.stage_id, name: e.stage ?? '' };
      const reported = { at: date(e.at), source: e.source, receivedAt: date(e.received_at) };
      if (e.kind === 'move') return { ...reported, kind: 'move', stage, eventId: e.event_id ?? '' };
      if (e.kind === 'unnamed_move') return { ...reported, kind: 'unnamed_move', eventId: e.event_id ?? '' };
      const personCreatedAt = e.person_created_at === null ? null : date(e.person_created_at);
      return { ...reported, kind: 'snapshot', stage, readAt: e.read_at === null ? null : date(e.read_at), personCreatedAt, eventId: e.event_id };
    }),
    changes: row.changes.map((c): StageChangeRow => ({ ...c, changed_at: date(c.changed_at), received_at: date(c.received_at), recorded_at: date(c.recorded_at) })),
  };
}

export interface HistoryWrite {
  remove: number[];
  revise: ChangeRevision[];
  insert: NewStageChange[];
  state: PersonState;
  /** Only the details given overwrite. */
  details: PersonDetails;
}

/** What a rebuild reports of each row it added. */
export type AddedChange = Pick<StageChangeRow, 'id' | 'person_id' | 'kind' | 'stage_from' | 'stage_to' | 'changed_at' | 'source'>;

/**
 * Writes a rebuild in one statement: rows removed, revised and added, and the person's state. The
 * order constraint on (person, changed_at, seq) is checked at commit, so seqs may swap. Returns the
 * rows added. Must hold the person's lock.
 */
export async function writePersonHistory(trx: Trx, personId: number, write: HistoryWrite): Promise<AddedChange[]> {
  const { remove, revise, insert, state, details } = write;
  const v = <T>(pick: (r: ChangeRevision) => T): T[] => revise.map(pick);
  const n = <T>(pick: (r: NewStageChange) => T): T[] => insert.map(pick);
  const read = state.lastRead;
  const given = (value: unknown): boolean => value !== undefined;
  // Result columns named, not *: see lockPerson.
  const { rows } = await sql<AddedChange>`${sql.raw(`${PREPARED}write_person_history */`)}
    WITH removed AS (
      DELETE FROM stage_changes WHERE id = ANY(${remove}::bigint[])
    ), revised AS (
      UPDATE stage_changes s SET kind = u.kind, stage_from = u.stage_from, stage_from_id = u.stage_from_id,
        stage_to_id = u.stage_to_id, seq = u.seq, source = u.source, event_id = u.event_id, received_at = u.received_at
      FROM unnest(${v((r) => r.id)}::bigint[], ${v((r) => r.kind)}::text[], ${v((r) => r.stage_from)}::text[],
                  ${v((r) => r.stage_from_id)}::bigint[], ${v((r) => r.stage_to_id)}::bigint[], ${v((r) => r.seq)}::smallint[],
                  ${v((r) => r.source)}::text[], ${v((r) => r.event_id)}::text[], ${v((r) => r.received_at)}::timestamptz[])
        AS u(id, kind, stage_from, stage_from_id, stage_to_id, seq, source, event_id, received_at)
      WHERE s.id = u.id
    ), person AS (
      UPDATE people SET
        stage = ${state.stage}, stage_id = ${state.stageId}::bigint, stage_changed_at = ${state.stageChangedAt}::timestamptz,
        fub_stage = CASE WHEN ${read !== undefined} THEN ${read?.stage ?? null} ELSE fub_stage END,
        fub_stage_id = CASE WHEN ${read !== undefined} THEN ${read?.stageId ?? null}::bigint ELSE fub_stage_id END,
        fub_updated_at = CASE WHEN ${read !== undefined} THEN ${read?.updated ?? null}::timestamptz ELSE fub_updated_at END,
        fub_stage_seen_at = CASE WHEN ${read !== undefined} THEN ${read?.readAt ?? null}::timestamptz ELSE fub_stage_seen_at END,
        deleted_at = CASE WHEN ${state.deletedAt !== undefined} THEN ${state.deletedAt ?? null}::timestamptz ELSE deleted_at END,
        first_name = CASE WHEN ${given(details.firstName)} THEN ${details.firstName ?? null} ELSE first_name END,
        last_name = CASE WHEN ${given(details.lastName)} THEN ${details.lastName ?? null} ELSE last_name END,
        assigned_user_id = CASE WHEN ${given(details.assignedUserId)} THEN ${details.assignedUserId ?? null}::bigint ELSE assigned_user_id END,
        assigned_user_name = CASE WHEN ${given(details.assignedUserName)} THEN ${details.assignedUserName ?? null} ELSE assigned_user_name END,
        lead_source = CASE WHEN ${given(details.leadSource)} THEN ${details.leadSource ?? null} ELSE lead_source END,
        updated_at = now()
      WHERE person_id = ${personId}
    )
    INSERT INTO stage_changes (person_id, first_name, last_name, kind, stage_from, stage_from_id, stage_to, stage_to_id, changed_at, seq,
                               received_at, source, event_id, assigned_user_id, assigned_user_name, lead_source)
    SELECT * FROM unnest(
      ${n((r) => r.person_id)}::bigint[], ${n((r) => r.first_name ?? null)}::text[], ${n((r) => r.last_name ?? null)}::text[],
      ${n((r) => r.kind ?? 'move')}::text[], ${n((r) => r.stage_from ?? null)}::text[], ${n((r) => r.stage_from_id ?? null)}::bigint[],
      ${n((r) => r.stage_to)}::text[], ${n((r) => r.stage_to_id ?? null)}::bigint[], ${n((r) => r.changed_at)}::timestamptz[],
      ${n((r) => r.seq ?? 0)}::smallint[], ${n((r) => r.received_at)}::timestamptz[], ${n((r) => r.source)}::text[],
      ${n((r) => r.event_id ?? null)}::text[], ${n((r) => r.assigned_user_id ?? null)}::bigint[], ${n((r) => r.assigned_user_name ?? null)}::text[],
      ${n((r) => r.lead_source ?? null)}::text[])
    RETURNING id, person_id, kind, stage_from, stage_to, changed_at, source`.execute(trx);
  return rows;
}
