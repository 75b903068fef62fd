import type { Trx } from '../db/database.js';
import type { NewStageChange, PersonRow, StageChangeRow } from '../db/schema.js';
import { diffHistory } from './diff-history.js';
import { compareReads, type Evidence, type HistoryRow, type SnapshotEvidence } from './evidence.js';
import { lockPerson, updatePersonState, type PersonDetails } from './people.repository.js';
import { reconstructHistory } from './reconstruct-history.js';
import { deleteChanges, fillMissingDetails, findChanges, insertChanges, reviseChanges } from './stage-changes.repository.js';
import { insertEvidence, readEvidence } from './stage-evidence.repository.js';

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
  inserted: StageChangeRow[];
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
  const newReports = await insertEvidence(trx, reports.personId, reports.evidence);
  const details = reports.details ?? {};
  const detailsChanged = differs(person, details);
  const deletionChanged = reports.deletedAt !== undefined && person.deleted_at === null;
  const outcome: RecordOutcome = { newReports, inserted: [], removed: 0, revised: 0 };
  if (newReports === 0 && !detailsChanged && !deletionChanged) return outcome;

  const known = {
    firstName: details.firstName !== undefined ? details.firstName : person.first_name,
    lastName: details.lastName !== undefined ? details.lastName : person.last_name,
    assignedUserId: details.assignedUserId !== undefined ? details.assignedUserId : person.assigned_user_id,
    assignedUserName: details.assignedUserName !== undefined ? details.assignedUserName : person.assigned_user_name,
  };
  let history: HistoryRow[] | undefined;
  let lastRead: SnapshotEvidence | undefined;
  if (newReports > 0) {
    const { evidence, watchingSince } = await readEvidence(trx, reports.personId);
    history = reconstructHistory(evidence, { watchingSince });
    const edit = diffHistory(await findChanges(trx, reports.personId), history);
    await deleteChanges(trx, edit.remove);
    await reviseChanges(trx, edit.revise);
    outcome.inserted = await insertChanges(trx, edit.insert.map((row) => toNewChange(reports.personId, row, known)));
    outcome.removed = edit.remove.length;
    outcome.revised = edit.revise.length;
    lastRead = latestRead(evidence);
  }
  const last = history?.[history.length - 1];
  await updatePersonState(
    trx,
    reports.personId,
    {
      stage: history ? (last?.to.name ?? null) : person.stage,
      stageId: history ? (last?.to.id ?? null) : person.stage_id,
      stageChangedAt: history ? (last?.at ?? null) : person.stage_changed_at,
      ...(lastRead ? { lastRead: { stage: lastRead.stage.name, stageId: lastRead.stage.id, updated: lastRead.at, readAt: lastRead.readAt ?? lastRead.at } } : {}),
      ...(deletionChanged ? { deletedAt: reports.deletedAt } : {}),
    },
    details,
  );
  // Rows written before the name or agent was known get them now.
  if (detailsChanged) await fillMissingDetails(trx, reports.personId, known);
  return outcome;
}

function toNewChange(
  personId: number,
  row: HistoryRow,
  known: { firstName: string | null; lastName: string | null; assignedUserId: number | null; assignedUserName: string | null },
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
    (details.assignedUserName !== undefined && details.assignedUserName !== person.assigned_user_name)
  );
}
