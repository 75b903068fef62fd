import { sql } from 'kysely';
import type { Trx } from '../shared/db/database.js';
import type { ConditionState } from './plan-alerts.js';

// Any constant works; it only has to be the same in every replica (the migrator uses 0x0f0bc011).
const ALERT_LOCK_KEY = 0x0f0b_a1e7;

/** True when this transaction is the one replica checking now; false: another one is. Held until commit. */
export async function tryLockAlerts(trx: Trx): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${ALERT_LOCK_KEY}) AS locked`.execute(trx);
  return rows[0]!.locked;
}

export async function readConditionStates(trx: Trx): Promise<ConditionState[]> {
  return trx.selectFrom('alert_conditions').select(['key', 'active', 'detail', 'active_since', 'notified', 'last_alert_at']).execute();
}

export async function saveConditionStates(trx: Trx, states: readonly ConditionState[], now: Date): Promise<void> {
  if (states.length === 0) return;
  await trx
    .insertInto('alert_conditions')
    .values(states.map((s) => ({ ...s, updated_at: now })))
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => ({
        active: eb.ref('excluded.active'),
        detail: eb.ref('excluded.detail'),
        active_since: eb.ref('excluded.active_since'),
        notified: eb.ref('excluded.notified'),
        last_alert_at: eb.ref('excluded.last_alert_at'),
        updated_at: eb.ref('excluded.updated_at'),
      })),
    )
    .execute();
}

/** Claims the summary of `day` (YYYY-MM-DD); false when it was already sent. Rolled back with the transaction. */
export async function claimDailySummary(trx: Trx, day: string, now: Date): Promise<boolean> {
  const claimed = await trx
    .insertInto('alert_daily_summaries')
    .values({ summary_of: day, sent_at: now })
    .onConflict((oc) => oc.column('summary_of').doNothing())
    .returning('summary_of')
    .executeTakeFirst();
  return claimed !== undefined;
}
