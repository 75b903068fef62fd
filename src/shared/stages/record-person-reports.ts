import type { Trx } from '../db/database.js';
import type { NewStageChange, PersonRow, StageChangeRow } from '../db/schema.js';
import { diffHistory } from './diff-history.js';
import { compareReads, type Evidence, type HistoryRow, type SnapshotEvidence } from './evidence.js';
import { storeReportsAndRead, writePersonHistory, type AddedChange } from './person-history.repository.js';
import { lockPerson, type PersonDetails } from './people.repository.js';
import { reconstructHistory } from './reconstruct-history.js';
import { fillMissingDetails, type KnownDetails } from './stage-changes.repository.js';

/** Everything one source learned about one person at once. */
export interface PersonReports {
  personId: number;
  evidence: Evidence[];
  /** Names and agent, when the report carried them (a read). */
  details?: PersonDetails;
  /** FUB said the person was deleted then (peopleDeleted). */
  deletedAt?: Date;
}

export interface RecordOutcome {
  /** Reports not seen before (0: nothing new, nothing rebuilt). */
  newReports: number;
  /** Rows added to the person's history. */
  inserted: AddedChange[];
  /** Rows the rebuild removed (an inferred move a webhook then explained) or revised. */
  removed: number;
  revised: number;
}

/**
 * The one core both sources use: stores the reports, then rebuilds the person's history from every
 * report about them and writes only what changed. Must run in a transaction; it takes the person's
 * row lock first, which serializes every writer for that person.
 */
export async function recordPersonReports(trx: Trx, reports: PersonReports): Promise<RecordOutcome> {
  const person = await lockPerson(trx, reports.personId);
  const deletionChanged = reports.deletedAt !== undefined && person.deleted_at === null;
  // A deletion rebuilds too: the latest read no longer says where the person is now.
  const records = reports.evidence.length > 0 || deletionChanged ? await storeReportsAndRead(trx, reports.personId, reports.evidence) : undefined;
  const newReports = records?.stored ?? 0;
  const details = reports.details ?? {};
  const detailsChanged = differs(person, details);
  const outcome: RecordOutcome = { newReports, inserted: [], removed: 0, revised: 0 };
  if (newReports === 0 && !detailsChanged && !deletionChanged) return outcome;

  const known = {
    firstName: details.firstName !== undefined ? details.firstName : person.first_name,
    lastName: details.lastName !== undefined ? details.lastName : person.last_name,
    assignedUserId: details.assignedUserId !== undefined ? details.assignedUserId : person.assigned_user_id,
    assignedUserName: details.assignedUserName !== undefined ? details.assignedUserName : person.assigned_user_name,
    leadSource: details.leadSource !== undefined ? details.leadSource : person.lead_source,
  };
  const rebuild = records !== undefined && (newReports > 0 || deletionChanged);
  const deleted = person.deleted_at !== null || reports.deletedAt !== undefined;
  const history = rebuild ? reconstructHistory(records.evidence, { watchingSince: records.watchingSince, deleted }) : undefined;
  const edit = history ? diffHistory(records!.changes, history) : { remove: [], revise: [], insert: [] };
  const lastRead = rebuild ? latestRead(records.evidence) : undefined;
  const last = history?.[history.length - 1];
  outcome.inserted = await writePersonHistory(trx, reports.personId, {
    remove: edit.remove,
    revise: edit.revise,
    insert: edit.insert.map((row) => toNewChange(reports.personId, row, known)),
    state: {
      stage: history ? (last?.to.name ?? null) : person.stage,
      stageId: history ? (last?.to.id ?? null) : person.stage_id,
      stageChangedAt: history ? (last?.at ?? null) : person.stage_changed_at,
      ...(lastRead ? { lastRead: { stage: lastRead.stage.name, stageId: lastRead.stage.id, updated: lastRead.at, readAt: lastRead.readAt ?? lastRead.at } } : {}),
      ...(deletionChanged ? { deletedAt: reports.deletedAt } : {}),
    },
    details,
  });
  outcome.removed = edit.remove.length;
  outcome.revised = edit.revise.length;
  // Rows written before the name or agent was known get them now (the rows just added have them).
  const kept = rebuild ? records.changes.filter((c) => !edit.remove.includes(c.id)) : undefined;
  const lacking = (missing: (c: StageChangeRow) => boolean): boolean => kept === undefined || kept.some(missing);
  if (
    detailsChanged &&
    (lacking((c) => c.first_name === null && c.last_name === null) ||
      lacking((c) => c.assigned_user_id === null && c.assigned_user_name === null) ||
      lacking((c) => c.lead_source === null))
  ) {
    await fillMissingDetails(trx, reports.personId, known);
  }
  return outcome;
}

function toNewChange(
  personId: number,
  row: HistoryRow,
  known: KnownDetails,
): NewStageChange {
  return {
    person_id: personId,
    first_name: known.firstName,
    last_name: known.lastName,
    kind: row.kind,
    stage_from: row.from?.name ?? null,
    stage_from_id: row.from?.id ?? null,
    stage_to: row.to.name,
    stage_to_id: row.to.id,
    changed_at: row.at,
    seq: row.seq,
    received_at: row.receivedAt,
    source: row.source,
    event_id: row.eventId,
    assigned_user_id: known.assignedUserId,
    assigned_user_name: known.assignedUserName,
    lead_source: known.leadSource,
  };
}

/** The read FUB answered last, which says what FUB shows now. */
function latestRead(evidence: Evidence[]): SnapshotEvidence | undefined {
  let latest: SnapshotEvidence | undefined;
  for (const e of evidence) if (e.kind === 'snapshot' && (latest === undefined || compareReads(e, latest) > 0)) latest = e;
  return latest;
}

function differs(person: PersonRow, details: PersonDetails): boolean {
  return (
    (details.firstName !== undefined && details.firstName !== person.first_name) ||
    (details.lastName !== undefined && details.lastName !== person.last_name) ||
    (details.assignedUserId !== undefined && details.assignedUserId !== person.assigned_user_id) ||
    (details.assignedUserName !== undefined && details.assignedUserName !== person.assigned_user_name) ||
    (details.leadSource !== undefined && details.leadSource !== person.lead_source)
  );
}
