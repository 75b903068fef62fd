import type { Trx } from '../db/database.js';
import type { StageChangeRow } from '../db/schema.js';
import { lockPerson, updatePersonState, type PersonDetails } from './people.repository.js';
import {
  fillMissingDetails,
  findChangeAfter,
  findChangeAtOrBefore,
  findLatestChange,
  insertStageChange,
  insertStageChangeUnlessNear,
  updateStageChange,
} from './stage-changes.repository.js';

/** "FUB says person P was in stage S at time T": what every source reports to the core. */
export interface StageObservation {
  personId: number;
  stage: string;
  /** When FUB had the person in this stage: the event's `eventCreated`, or the person's `updated`. */
  observedAt: Date;
  /** When we received the report. */
  receivedAt: Date;
  /** `webhook_<event>` or `polling`. */
  source: string;
  eventId: string | null;
  details?: PersonDetails;
  /**
   * The poller's guard: record nothing when the person already has a row for this stage within
   * ±this many seconds (a webhook caught it first).
   */
  nearDuplicateWindowSeconds?: number;
}

export type RecordOutcome =
  /** A new row: the person entered `stage` at `observedAt`. */
  | { kind: 'inserted'; change: StageChangeRow }
  /** A later row already had this move; it happened earlier than we thought, so it was re-dated. */
  | { kind: 'redated'; change: StageChangeRow }
  /** The person was already in this stage at that moment (duplicate report, or the other event type). */
  | { kind: 'unchanged' }
  /** Guarded insert skipped: a row for this person and stage lies within the window. */
  | { kind: 'duplicate' };

/**
 * Fits one observation into the person's history, ordered by `changed_at`, so that late and
 * out-of-order reports still give the right sequence and `stage_from` values. Must run in a
 * transaction; it takes the person's row lock first, which serializes all writers for that person.
 */
export async function recordStageObservation(trx: Trx, obs: StageObservation): Promise<RecordOutcome> {
  const person = await lockPerson(trx, obs.personId);
  const details = obs.details ?? {};
  const firstName = details.firstName !== undefined ? details.firstName : person.first_name;
  const lastName = details.lastName !== undefined ? details.lastName : person.last_name;
  const assignedUserId = details.assignedUserId !== undefined ? details.assignedUserId : person.assigned_user_id;
  const assignedUserName = details.assignedUserName !== undefined ? details.assignedUserName : person.assigned_user_name;

  const before = await findChangeAtOrBefore(trx, obs.personId, obs.observedAt);
  const hadHistory = person.stage !== null || before !== undefined;
  let outcome: RecordOutcome;
  // The person's latest row, when this call may have changed which one it is.
  let latest: StageChangeRow | 'look it up' | undefined;
  const guarded = obs.nearDuplicateWindowSeconds !== undefined;
  if (before?.stage_to === obs.stage) {
    // Still in that stage: remember how late we saw it, in case an earlier move arrives late.
    if (before.confirmed_at < obs.observedAt) await updateStageChange(trx, before.id, { confirmed_at: obs.observedAt });
    outcome = { kind: 'unchanged' };
  } else {
    const after = await findChangeAfter(trx, obs.personId, obs.observedAt);
    // Was the person seen back in the earlier stage after this move? Then they returned to it.
    const returned = before !== undefined && before.confirmed_at > obs.observedAt;
    const fields = {
      first_name: firstName,
      last_name: lastName,
      stage_from: before?.stage_to ?? null,
      changed_at: obs.observedAt,
      received_at: obs.receivedAt,
      source: obs.source,
      event_id: obs.eventId,
      assigned_user_id: assignedUserId,
      assigned_user_name: assignedUserName,
    };
    if (!returned && after?.stage_to === obs.stage) {
      if (guarded && Math.abs(after.changed_at.getTime() - obs.observedAt.getTime()) <= obs.nearDuplicateWindowSeconds! * 1000) {
        // The poller's estimate never moves a nearby row a webhook dated exactly.
        return { kind: 'duplicate' };
      }
      // We had this move at a later time; this report proves it happened by `observedAt`.
      outcome = { kind: 'redated', change: await updateStageChange(trx, after.id, fields) };
      latest = 'look it up';
    } else {
      const row = { ...fields, person_id: obs.personId, stage_to: obs.stage, confirmed_at: obs.observedAt };
      const change = guarded
        ? await insertStageChangeUnlessNear(trx, row, obs.nearDuplicateWindowSeconds!)
        : await insertStageChange(trx, row);
      if (change === undefined) return { kind: 'duplicate' };
      if (returned) {
        // Dated by the sighting: the return happened by then (the earliest date we can prove).
        await insertStageChange(trx, {
          ...fields,
          person_id: obs.personId,
          stage_from: obs.stage,
          stage_to: before.stage_to,
          changed_at: before.confirmed_at,
          confirmed_at: before.confirmed_at,
          source: before.source,
          event_id: before.event_id,
        });
        await updateStageChange(trx, before.id, { confirmed_at: before.changed_at });
        latest = 'look it up';
      } else if (after) {
        // The next known move now starts from this stage.
        await updateStageChange(trx, after.id, { stage_from: obs.stage });
      } else {
        latest = change;
      }
      outcome = { kind: 'inserted', change };
    }
  }

  // Write the state row only when the history's end moved or a detail changed (most reports: neither).
  const detailsChanged =
    firstName !== person.first_name ||
    lastName !== person.last_name ||
    assignedUserId !== person.assigned_user_id ||
    assignedUserName !== person.assigned_user_name;
  if (latest === 'look it up') latest = await findLatestChange(trx, obs.personId);
  if (latest !== undefined || detailsChanged) {
    const state = latest !== undefined
      ? { stage: latest.stage_to, stageChangedAt: latest.changed_at }
      : { stage: person.stage, stageChangedAt: person.stage_changed_at };
    await updatePersonState(trx, obs.personId, state, details);
  }
  // Rows written before the name or agent was known get them now (a first row already has them).
  if (detailsChanged && hadHistory) {
    await fillMissingDetails(trx, obs.personId, { firstName, lastName, assignedUserId, assignedUserName });
  }
  return outcome;
}
