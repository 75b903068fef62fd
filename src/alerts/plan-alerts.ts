import type { Condition } from './alert-conditions.js';

/** What the alert checker remembers of one condition (a row of alert_conditions). */
export interface ConditionState {
  key: string;
  active: boolean;
  detail: string;
  active_since: Date | null;
  notified: boolean;
  last_alert_at: Date | null;
}

export interface Recovery extends Condition {
  activeSince: Date | null;
}

export interface AlertPlan {
  problems: Condition[];
  recoveries: Recovery[];
  /** Every state that is new or changed, to be saved with the messages sent. */
  states: ConditionState[];
}

/**
 * Decides what to say: a condition is announced once when it starts, unless one was announced
 * within the cooldown (then it is announced when the cooldown ends, if it still holds); a
 * recovery is said once, and only for a condition whose problem was said.
 */
export function planAlerts(previous: readonly ConditionState[], observed: readonly Condition[], now: Date, cooldownMs: number): AlertPlan {
  const before = new Map(previous.map((s) => [s.key, s]));
  const seen = new Set(observed.map((c) => c.key));
  const plan: AlertPlan = { problems: [], recoveries: [], states: [] };
  for (const condition of observed) {
    const state = before.get(condition.key);
    const activeSince = state?.active ? state.active_since : now;
    if (state?.active && state.notified) {
      plan.states.push({ ...state, detail: condition.text });
      continue;
    }
    const coolingDown = state?.last_alert_at != null && now.getTime() - state.last_alert_at.getTime() < cooldownMs;
    if (coolingDown) {
      plan.states.push({ key: condition.key, active: true, detail: condition.text, active_since: activeSince, notified: false, last_alert_at: state.last_alert_at });
      continue;
    }
    plan.problems.push(condition);
    plan.states.push({ key: condition.key, active: true, detail: condition.text, active_since: activeSince, notified: true, last_alert_at: now });
  }
  for (const state of previous) {
    if (!state.active || seen.has(state.key)) continue;
    if (state.notified) plan.recoveries.push({ key: state.key, text: state.detail, activeSince: state.active_since });
    plan.states.push({ ...state, active: false, notified: false });
  }
  return plan;
}
