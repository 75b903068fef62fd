import type { AlertsConfig } from '../shared/config.js';
import type { Db } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import type { AlertMessage } from './alert-channels.js';
import { observeConditions } from './alert-conditions.js';
import { claimDailySummary, readConditionStates, saveConditionStates, tryLockAlerts } from './alert-state.repository.js';
import { composeDailySummary, summaryDueFor } from './daily-summary.js';
import { planAlerts, type AlertPlan } from './plan-alerts.js';

export interface AlertCheckerDeps {
  db: Db;
  log: Logger;
  config: AlertsConfig;
  timeZone: string;
  /** Throws when the message went nowhere: the check is rolled back and tried again next time. */
  send(message: AlertMessage): Promise<void>;
  now?: () => Date;
}

/** `skipped`: another replica held the check; otherwise how many messages this replica sent. */
export type CheckOutcome = { status: 'skipped' } | { status: 'checked'; sent: number };

export interface AlertChecker {
  /** Checks every condition and the daily summary once; only one replica at a time gets past the lock. */
  checkOnce(): Promise<{ alerts: CheckOutcome; summary: CheckOutcome }>;
}

export function createAlertChecker(deps: AlertCheckerDeps): AlertChecker {
  const { db, log, config, timeZone, send } = deps;
  const now = deps.now ?? (() => new Date());

  // The state and the message commit together: a message that could not be sent leaves the
  // state as it was, so the next check tries again; a replica that finds the lock taken skips.
  async function checkConditions(): Promise<CheckOutcome> {
    return db.transaction().execute(async (trx) => {
      if (!(await tryLockAlerts(trx))) return { status: 'skipped' };
      const at = now();
      const { conditions } = await observeConditions(trx, { now: at, inboxBacklogMs: config.inboxBacklogMs });
      const plan = planAlerts(await readConditionStates(trx), conditions, at, config.cooldownMs);
      await saveConditionStates(trx, plan.states, at);
      if (plan.problems.length === 0 && plan.recoveries.length === 0) return { status: 'checked', sent: 0 };
      await send(alertMessage(plan, at));
      log.info({ problems: plan.problems.map((p) => p.key), recoveries: plan.recoveries.map((r) => r.key) }, 'alert sent');
      return { status: 'checked', sent: 1 };
    });
  }

  async function sendDailySummary(): Promise<CheckOutcome> {
    const at = now();
    const day = config.dailySummaryAt === undefined ? undefined : summaryDueFor(at, config.dailySummaryAt, timeZone);
    if (day === undefined) return { status: 'checked', sent: 0 };
    return db.transaction().execute(async (trx) => {
      if (!(await tryLockAlerts(trx))) return { status: 'skipped' };
      if (!(await claimDailySummary(trx, day, at))) return { status: 'checked', sent: 0 };
      await send(await composeDailySummary(trx, day, timeZone));
      log.info({ day }, 'daily summary sent');
      return { status: 'checked', sent: 1 };
    });
  }

  return {
    async checkOnce() {
      const alerts = await checkConditions();
      const summary = await sendDailySummary();
      return { alerts, summary };
    },
  };
}

function alertMessage(plan: AlertPlan, at: Date): AlertMessage {
  const lines = [
    ...plan.problems.map((p) => `PROBLEM [${p.key}] ${p.text}`),
    ...plan.recoveries.map((r) => {
      const lasted = r.activeSince ? ` after ${Math.max(1, Math.round((at.getTime() - r.activeSince.getTime()) / 60_000))} min` : '';
      return `RECOVERED [${r.key}]${lasted}; it was: ${r.text}`;
    }),
  ];
  const counts = [plan.problems.length > 0 && `${plan.problems.length} problem(s)`, plan.recoveries.length > 0 && `${plan.recoveries.length} recovered`].filter(Boolean);
  return { subject: `fub-collector: ${counts.join(', ')}`, text: lines.join('\n') };
}
