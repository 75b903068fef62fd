import { sql } from 'kysely';
import { arrayLiteral, type ArrayElement } from '../db/array-literal.js';
import { PREPARED } from '../db/database.js';
import type { Trx } from '../db/database.js';
import type { NewStageChange, StageChangeRow, StageEvidenceRow } from '../db/schema.js';
import type { ChangeRevision } from './diff-history.js';
import { stageKey, type Evidence, type SnapshotEvidence } from './evidence.js';
import type { PersonDetails, PersonState } from './people.repository.js';

// The two statements of a rebuild, each one round trip for a whole batch of people: store the reports
// and read back everything about those people; then write the rows that changed and the people's
// state together. Both are prepared once per connection (planning them cost more than running them),
// and take every value as an array, so one person or five hundred are the same statement.

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

/** New reports about one person. */
export interface PersonEvidence {
  personId: number;
  evidence: readonly Evidence[];
}

/**
 * Stores reports about several people and reads back all of them with the people's rows, in one
 * statement. A report already stored (the same webhook's move) is skipped, and the same read again
 * only moves its read time on (a later read of the same state says the state held longer). Must hold
 * the people's locks. Every person given gets an entry, even one with no reports.
 */
export async function storeReportsAndRead(trx: Trx, given: readonly PersonEvidence[]): Promise<Map<number, PersonRecords>> {
  if (given.length === 0) return new Map();
  const moves = given.flatMap(({ personId, evidence }) => evidence.filter((e) => e.kind !== 'snapshot').map((e) => ({ personId, e })));
  // The same read twice in one statement would make the upsert touch a row twice: keep the later.
  const reads = [
    ...new Map(
      given.flatMap(({ personId, evidence }) =>
        evidence.filter((e): e is SnapshotEvidence => e.kind === 'snapshot').map((e) => [`${personId}|${e.at.getTime()}|${stageKey(e.stage)}`, { personId, e }] as const),
      ),
    ).values(),
  ];
  const m = (pick: (e: Evidence, personId: number) => ArrayElement): string => arrayLiteral(moves.map(({ personId, e }) => pick(e, personId)));
  const r = (pick: (e: SnapshotEvidence, personId: number) => ArrayElement): string => arrayLiteral(reads.map(({ personId, e }) => pick(e, personId)));
  const people = arrayLiteral([...new Set(given.map((g) => g.personId))]);
  const { rows } = await sql<{ person_id: number; stored: number; watching_since: Date | null; evidence: EvidenceJson[]; changes: ChangeJson[] }>`${sql.raw(`${PREPARED}store_reports_and_read_many */`)}
    WITH moves AS (
      INSERT INTO stage_evidence (person_id, kind, at, stage, stage_id, source, event_id, received_at)
      SELECT u.* FROM unnest(
        ${m((_, p) => p)}::bigint[], ${m((e) => e.kind)}::text[], ${m((e) => e.at)}::timestamptz[], ${m((e) => (e.kind === 'move' ? e.stage.name : null))}::text[],
        ${m((e) => (e.kind === 'move' ? e.stage.id : null))}::bigint[], ${m((e) => e.source)}::text[], ${m((e) => e.eventId)}::text[],
        ${m((e) => e.receivedAt)}::timestamptz[]) AS u
      ON CONFLICT DO NOTHING
      RETURNING *
    ), reads AS (
      INSERT INTO stage_evidence (person_id, kind, at, stage, stage_id, read_at, person_created_at, source, event_id, received_at)
      SELECT u.person_id, 'snapshot', u.at, u.stage, u.stage_id, u.read_at, u.person_created_at, u.source, u.event_id, u.received_at FROM unnest(
        ${r((_, p) => p)}::bigint[], ${r((e) => e.at)}::timestamptz[], ${r((e) => e.stage.name)}::text[], ${r((e) => e.stage.id)}::bigint[],
        ${r((e) => e.readAt)}::timestamptz[], ${r((e) => e.personCreatedAt)}::timestamptz[], ${r((e) => e.source)}::text[], ${r((e) => e.eventId)}::text[],
        ${r((e) => e.receivedAt)}::timestamptz[]) AS u(person_id, at, stage, stage_id, read_at, person_created_at, source, event_id, received_at)
      ON CONFLICT (person_id, at, (coalesce(stage_id::text, stage))) WHERE kind = 'snapshot'
      DO UPDATE SET read_at = excluded.read_at, source = excluded.source, event_id = excluded.event_id, received_at = excluded.received_at
      WHERE stage_evidence.read_at < excluded.read_at
      RETURNING *
    ), fresh AS (
      SELECT * FROM moves UNION ALL SELECT * FROM reads
    ), everything AS (
      -- This statement's snapshot does not see its own writes: stored rows, less the ones just
      -- replaced, plus what was written.
      SELECT * FROM stage_evidence WHERE person_id = ANY(${people}::bigint[]) AND id NOT IN (SELECT id FROM fresh)
      UNION ALL SELECT * FROM fresh
    ), stored AS (
      SELECT person_id, count(*)::int AS stored FROM fresh GROUP BY person_id
    ), evidence AS (
      -- In the order stored: a rebuild that must cut its search short (a long burst in one second)
      -- settles ties by it, so the same reports always give the same history.
      SELECT e.person_id, json_agg(json_build_object(
               'kind', e.kind, 'at', e.at, 'stage', e.stage, 'stage_id', coalesce(e.stage_id, n.stage_id), 'read_at', e.read_at,
               'person_created_at', e.person_created_at, 'source', e.source, 'event_id', e.event_id, 'received_at', e.received_at)
               ORDER BY e.id) AS evidence
      FROM everything e LEFT JOIN stage_names n ON n.name = e.stage GROUP BY e.person_id
    ), changes AS (
      SELECT s.person_id, json_agg(s ORDER BY s.changed_at, s.seq) AS changes
      FROM stage_changes s WHERE s.person_id = ANY(${people}::bigint[]) GROUP BY s.person_id
    )
    SELECT p.person_id, coalesce(stored.stored, 0) AS stored, (SELECT watching_since FROM collector_state) AS watching_since,
           coalesce(evidence.evidence, '[]') AS evidence, coalesce(changes.changes, '[]') AS changes
    FROM unnest(${people}::bigint[]) AS p(person_id)
    LEFT JOIN stored USING (person_id) LEFT JOIN evidence USING (person_id) LEFT JOIN changes USING (person_id)`.execute(trx);
  const date = (text: string): Date => new Date(text);
  return new Map(
    rows.map((row) => [
      Number(row.person_id),
      {
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
      },
    ]),
  );
}

/** What a rebuild writes for one person. */
export interface HistoryWrite {
  personId: number;
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
 * Writes the rebuilds of several people in one statement: rows removed, revised and added, and each
 * person's state. The order constraint on (person, changed_at, seq) is checked at commit, so seqs may
 * swap. Returns the rows added. Must hold the people's locks.
 */
export async function writePeopleHistory(trx: Trx, writes: readonly HistoryWrite[]): Promise<AddedChange[]> {
  if (writes.length === 0) return [];
  const remove = writes.flatMap((w) => w.remove);
  const revise = writes.flatMap((w) => w.revise);
  const insert = writes.flatMap((w) => w.insert);
  const v = (pick: (r: ChangeRevision) => ArrayElement): string => arrayLiteral(revise.map(pick));
  const n = (pick: (r: NewStageChange) => ArrayElement): string => arrayLiteral(insert.map(pick));
  const p = (pick: (w: HistoryWrite) => ArrayElement): string => arrayLiteral(writes.map(pick));
  const read = (w: HistoryWrite) => w.state.lastRead;
  // A detail or state part not given keeps what the row holds: a flag per part says which.
  const given = (pick: (w: HistoryWrite) => unknown): string => arrayLiteral(writes.map((w) => pick(w) !== undefined));
  // Each is sent twice (its rows and their key condition): made once.
  const revisedIds = v((r) => r.id);
  const personIds = p((w) => w.personId);
  // Result columns named, not *: see lockPeople.
  const { rows } = await sql<AddedChange>`${sql.raw(`${PREPARED}write_people_history */`)}
    WITH removed AS (
      DELETE FROM stage_changes WHERE id = ANY(${arrayLiteral(remove)}::bigint[])
    ), revised AS (
      UPDATE stage_changes s SET kind = u.kind, stage_from = u.stage_from, stage_from_id = u.stage_from_id,
        stage_to_id = u.stage_to_id, seq = u.seq, source = u.source, event_id = u.event_id, received_at = u.received_at
      FROM unnest(${revisedIds}::bigint[], ${v((r) => r.kind)}::text[], ${v((r) => r.stage_from)}::text[],
                  ${v((r) => r.stage_from_id)}::bigint[], ${v((r) => r.stage_to_id)}::bigint[], ${v((r) => r.seq)}::smallint[],
                  ${v((r) => r.source)}::text[], ${v((r) => r.event_id)}::text[], ${v((r) => r.received_at)}::timestamptz[])
        AS u(id, kind, stage_from, stage_from_id, stage_to_id, seq, source, event_id, received_at)
      -- The ids again as a key condition, in each UPDATE: the rows are then reached by index, never
      -- by walking the whole table to join it.
      WHERE s.id = u.id AND s.id = ANY(${revisedIds}::bigint[])
    ), person AS (
      UPDATE people p SET
        stage = u.stage, stage_id = u.stage_id, stage_changed_at = u.stage_changed_at,
        fub_stage = CASE WHEN u.has_read THEN u.read_stage ELSE p.fub_stage END,
        fub_stage_id = CASE WHEN u.has_read THEN u.read_stage_id ELSE p.fub_stage_id END,
        fub_updated_at = CASE WHEN u.has_read THEN u.read_updated ELSE p.fub_updated_at END,
        fub_stage_seen_at = CASE WHEN u.has_read THEN u.read_at ELSE p.fub_stage_seen_at END,
        deleted_at = CASE WHEN u.has_deleted THEN u.deleted_at ELSE p.deleted_at END,
        first_name = CASE WHEN u.has_first_name THEN u.first_name ELSE p.first_name END,
        last_name = CASE WHEN u.has_last_name THEN u.last_name ELSE p.last_name END,
        assigned_user_id = CASE WHEN u.has_user_id THEN u.assigned_user_id ELSE p.assigned_user_id END,
        assigned_user_name = CASE WHEN u.has_user_name THEN u.assigned_user_name ELSE p.assigned_user_name END,
        lead_source = CASE WHEN u.has_lead_source THEN u.lead_source ELSE p.lead_source END,
        updated_at = now()
      FROM unnest(
        ${personIds}::bigint[], ${p((w) => w.state.stage)}::text[], ${p((w) => w.state.stageId)}::bigint[],
        ${p((w) => w.state.stageChangedAt)}::timestamptz[],
        ${given(read)}::boolean[], ${p((w) => read(w)?.stage ?? null)}::text[], ${p((w) => read(w)?.stageId ?? null)}::bigint[],
        ${p((w) => read(w)?.updated ?? null)}::timestamptz[], ${p((w) => read(w)?.readAt ?? null)}::timestamptz[],
        ${given((w) => w.state.deletedAt)}::boolean[], ${p((w) => w.state.deletedAt ?? null)}::timestamptz[],
        ${given((w) => w.details.firstName)}::boolean[], ${p((w) => w.details.firstName ?? null)}::text[],
        ${given((w) => w.details.lastName)}::boolean[], ${p((w) => w.details.lastName ?? null)}::text[],
        ${given((w) => w.details.assignedUserId)}::boolean[], ${p((w) => w.details.assignedUserId ?? null)}::bigint[],
        ${given((w) => w.details.assignedUserName)}::boolean[], ${p((w) => w.details.assignedUserName ?? null)}::text[],
        ${given((w) => w.details.leadSource)}::boolean[], ${p((w) => w.details.leadSource ?? null)}::text[]
      ) AS u(person_id, stage, stage_id, stage_changed_at, has_read, read_stage, read_stage_id, read_updated, read_at,
             has_deleted, deleted_at, has_first_name, first_name, has_last_name, last_name, has_user_id, assigned_user_id,
             has_user_name, assigned_user_name, has_lead_source, lead_source)
      WHERE p.person_id = u.person_id AND p.person_id = ANY(${personIds}::bigint[])
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
