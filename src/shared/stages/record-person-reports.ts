import type { Trx } from '../db/database.js';
import type { NewStageChange, PersonRow, StageChangeRow } from '../db/schema.js';
import { diffHistory } from './diff-history.js';
import { compareReads, type Evidence, type HistoryRow, type SnapshotEvidence } from './evidence.js';
import { storeReportsAndRead, writePeopleHistory, type AddedChange, type HistoryWrite, type PersonRecords } from './person-history.repository.js';
import { lockPeople, type PersonDetails } from './people.repository.js';
import { reconstructHistory } from './reconstruct-history.js';
import { fillMissingDetails, type KnownDetails } from './stage-changes.repository.js';

/** People rebuilt between two turns of the event loop (a rebuild takes ~0.1 ms on 2 slow cores). */
const REBUILDS_PER_TURN = 50;

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
  personId: number;
  /** Reports not seen before (0: nothing new, nothing rebuilt). */
  newReports: number;
  /** Rows added to the person's history. */
  inserted: AddedChange[];
  /** Rows the rebuild removed (an inferred move a webhook then explained) or revised. */
  removed: number;
  revised: number;
}

/**
 * The one core both sources use, for one person or a whole batch at once: stores the reports, then
 * rebuilds each person's history from every report about them and writes only what changed. Must run
 * in a transaction (READ COMMITTED); it takes the people's row locks first, in id order, which
 * serializes every writer for a person while any two people stay independent. Reports about the same
 * person are merged (the history fits reports in whatever order they come). Five statements at most
 * however many people: lock, store and read, write, fill missing details, none of them per person.
 * Returns one outcome per person, in the order first given.
 */
export async function recordPeopleReports(trx: Trx, all: readonly PersonReports[]): Promise<RecordOutcome[]> {
  const merged = mergeByPerson(all);
  const people = await lockPeople(trx, merged.map((r) => r.personId));
  const personOf = (r: PersonReports): PersonRow => people.get(r.personId)!;
  // A deletion rebuilds too: the latest read no longer says where the person is now.
  const toStore = merged.filter((r) => r.evidence.length > 0 || deletionChanges(r, personOf(r)));
  const records = await storeReportsAndRead(trx, toStore.map((r) => ({ personId: r.personId, evidence: r.evidence })));
  const plans: PersonWritePlan[] = [];
  for (const [i, r] of merged.entries()) {
    // A big batch's rebuilds give the event loop a turn now and then: the same thread answers webhooks.
    if (i > 0 && i % REBUILDS_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    plans.push(planPersonWrite(r, personOf(r), records.get(r.personId)));
  }
  const added = await writePeopleHistory(trx, plans.flatMap((p) => (p.write ? [p.write] : [])));
  await fillMissingDetails(trx, plans.flatMap((p) => (p.fill ? [{ personId: p.outcome.personId, details: p.fill }] : [])));
  const addedBy = new Map<number, AddedChange[]>();
  for (const row of added) addedBy.set(Number(row.person_id), [...(addedBy.get(Number(row.person_id)) ?? []), row]);
  return plans.map(({ outcome }) => ({ ...outcome, inserted: addedBy.get(outcome.personId) ?? [] }));
}

/** One person's reports, as recordPeopleReports takes them. */
export async function recordPersonReports(trx: Trx, reports: PersonReports): Promise<RecordOutcome> {
  return (await recordPeopleReports(trx, [reports]))[0]!;
}

/** What one person's rebuild writes, decided from their locked row and their reports (no I/O). */
interface PersonWritePlan {
  outcome: Omit<RecordOutcome, 'inserted'>;
  write?: HistoryWrite;
  /** Details to put on rows recorded without them. */
  fill?: KnownDetails;
}

function planPersonWrite(reports: PersonReports, person: PersonRow, records: PersonRecords | undefined): PersonWritePlan {
  const { personId } = reports;
  const deletionChanged = deletionChanges(reports, person);
  const newReports = records?.stored ?? 0;
  const details = reports.details ?? {};
  const detailsChanged = differs(person, details);
  const outcome = { personId, newReports, removed: 0, revised: 0 };
  if (newReports === 0 && !detailsChanged && !deletionChanged) return { outcome };

  const known: KnownDetails = {
    firstName: details.firstName !== undefined ? details.firstName : person.first_name,
    lastName: details.lastName !== undefined ? details.lastName : person.last_name,
    assignedUserId: details.assignedUserId !== undefined ? details.assignedUserId : person.assigned_user_id,
    assignedUserName: details.assignedUserName !== undefined ? details.assignedUserName : person.assigned_user_name,
    leadSource: details.leadSource !== undefined ? details.leadSource : person.lead_source,
  };
  const rebuild = records !== undefined && (newReports > 0 || deletionChanged) ? records : undefined;
  const deleted = person.deleted_at !== null || reports.deletedAt !== undefined;
  const history = rebuild ? reconstructHistory(rebuild.evidence, { watchingSince: rebuild.watchingSince, deleted }) : undefined;
  const edit = history && rebuild ? diffHistory(rebuild.changes, history) : { remove: [], revise: [], insert: [] };
  const lastRead = rebuild ? latestRead(rebuild.evidence) : undefined;
  const last = history?.[history.length - 1];
  const write: HistoryWrite = {
    personId,
    remove: edit.remove,
    revise: edit.revise,
    insert: edit.insert.map((row) => toNewChange(personId, row, known)),
    state: {
      stage: history ? (last?.to.name ?? null) : person.stage,
      stageId: history ? (last?.to.id ?? null) : person.stage_id,
      stageChangedAt: history ? (last?.at ?? null) : person.stage_changed_at,
      ...(lastRead ? { lastRead: { stage: lastRead.stage.name, stageId: lastRead.stage.id, updated: lastRead.at, readAt: lastRead.readAt ?? lastRead.at } } : {}),
      ...(deletionChanged ? { deletedAt: reports.deletedAt } : {}),
    },
    details,
  };
  // Rows written before the name or agent was known get them now (the rows just added have them).
  const kept = rebuild ? rebuild.changes.filter((c) => !edit.remove.includes(c.id)) : undefined;
  const lacking = (missing: (c: StageChangeRow) => boolean): boolean => kept === undefined || kept.some(missing);
  const fill =
    detailsChanged &&
    (lacking((c) => c.first_name === null && c.last_name === null) ||
      lacking((c) => c.assigned_user_id === null && c.assigned_user_name === null) ||
      lacking((c) => c.lead_source === null));
  return { outcome: { ...outcome, removed: edit.remove.length, revised: edit.revise.length }, write, ...(fill ? { fill: known } : {}) };
}

/**
 * One entry per person, in the order each was first given: their evidence together, the details
 * given last for each part (later reports know better), and the first deletion.
 */
function mergeByPerson(all: readonly PersonReports[]): PersonReports[] {
  const byPerson = new Map<number, PersonReports>();
  for (const r of all) {
    const seen = byPerson.get(r.personId);
    if (!seen) {
      byPerson.set(r.personId, { ...r, evidence: [...r.evidence], ...(r.details ? { details: { ...r.details } } : {}) });
      continue;
    }
    seen.evidence.push(...r.evidence);
    if (r.details) seen.details = { ...seen.details, ...definedOnly(r.details) };
    if (seen.deletedAt === undefined && r.deletedAt !== undefined) seen.deletedAt = r.deletedAt;
  }
  return [...byPerson.values()];
}

function definedOnly(details: PersonDetails): PersonDetails {
  return Object.fromEntries(Object.entries(details).filter(([, value]) => value !== undefined)) as PersonDetails;
}

function toNewChange(personId: number, row: HistoryRow, known: KnownDetails): NewStageChange {
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

/** FUB said the person was deleted, and we did not know yet. */
function deletionChanges(reports: PersonReports, person: PersonRow): boolean {
  return reports.deletedAt !== undefined && person.deleted_at === null;
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
