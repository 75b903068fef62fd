import type { AlertsConfig } from '../shared/config.js';
import type { Db } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import { createAlertSender } from './alert-channels.js';
import { createAlertChecker } from './alert-checker.js';

export interface AlertSchedule {
  /** Stops the timer and waits for a check in progress (its transaction commits or rolls back). */
  stop(): Promise<void>;
}

export interface AlertScheduleDeps {
  db: Db;
  log: Logger;
  config: AlertsConfig;
  timeZone: string;
  intervalMs?: number;
  now?: () => Date;
}

/** Checks the alert conditions now and then every minute; says once at start when alerts are off. */
export function startAlertSchedule(deps: AlertScheduleDeps): AlertSchedule {
  const log = deps.log.child({ component: 'alerts' });
  const sender = createAlertSender(deps.config, log);
  if (!sender) {
    log.info('alerts off: set ALERT_WEBHOOK_URL and/or SMTP_HOST, ALERT_EMAIL_FROM, ALERT_EMAIL_TO to be told when a source goes STALE');
    return { stop: async () => undefined };
  }
  const checker = createAlertChecker({ ...deps, log, send: (m) => sender.send(m) });
  let running: Promise<void> | undefined;
  const tick = (): void => {
    if (running) return;
    running = checker
      .checkOnce()
      .then(
        () => undefined,
        (error: unknown) => log.error({ err: error }, 'alert check failed; trying again at the next one'),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, deps.intervalMs ?? 60_000);
  tick();
  log.info(
    { channels: sender.channels, cooldownMinutes: deps.config.cooldownMs / 60_000, dailySummaryAt: deps.config.dailySummaryAt, timeZone: deps.timeZone },
    'alerts on',
  );
  return {
    async stop() {
      clearInterval(timer);
      await running;
      sender.close();
    },
  };
}
