import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import cron from 'node-cron';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ProcessingConfig {
  /** How long a claimed inbox row stays ours before another worker may take it back. */
  readonly leaseSeconds: number;
  /** Attempts before an event is dead-lettered. */
  readonly maxAttempts: number;
  /** First retry delay; doubles each attempt (with jitter), capped at one hour. */
  readonly retryBaseSeconds: number;
  /** How often the sweep looks for work that no wake-up announced (other replicas, restarts). */
  readonly sweepIntervalMs: number;
}

export interface PollerConfig {
  /** node-cron expression; every 30 minutes by default. */
  readonly cron: string;
  /** How far before the last successful poll's start the next one re-reads. */
  readonly overlapMs: number;
}

export interface SmtpConfig {
  readonly host: string;
  readonly port: number;
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  readonly secure: boolean;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly from: string;
  readonly to: readonly string[];
}

export interface AlertsConfig {
  /** A chat incoming webhook taking Slack-style `{"text": …}` JSON. */
  readonly webhookUrl: string | undefined;
  readonly smtp: SmtpConfig | undefined;
  /** A condition announced (or flapping) is not announced again within this time. */
  readonly cooldownMs: number;
  /** The inbox has backed up when its oldest unprocessed event is older than this. */
  readonly inboxBacklogMs: number;
  /** `HH:MM` in the business time zone; undefined: no daily summary. */
  readonly dailySummaryAt: string | undefined;
}

/** What the webhook server allows a request before its body is stored (hostile or broken clients). */
export interface WebhookRequestLimits {
  /** Time to receive a whole body once its headers arrived; FUB sends a body at once. */
  readonly bodyTimeoutMs: number;
  /** Bodies being read at the same time; one more is answered 503 with Retry-After. */
  readonly maxBodiesInFlight: number;
  /** Whether X-Forwarded-For (from the one proxy in front, e.g. Railway's) names the client in logs. */
  readonly trustProxy: boolean;
}

export interface Config {
  /** Undefined means: start the embedded PostgreSQL under `embeddedPostgres.dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly embeddedPostgres: { readonly dataDir: string; readonly port: number };
  readonly fub: {
    readonly apiKey: string;
    readonly system: string | undefined;
    readonly systemKey: string | undefined;
    readonly apiBaseUrl: string;
  };
  readonly port: number;
  readonly logLevel: LogLevel;
  /** True only when the operator explicitly accepted unsigned webhooks (no FUB_SYSTEM_KEY). */
  readonly webhookAllowUnsigned: boolean;
  readonly webhookRequests: WebhookRequestLimits;
  readonly processing: ProcessingConfig;
  readonly poller: PollerConfig;
  /** IANA zone whose days the dashboard, `report` and the monitoring queries count in. */
  readonly businessTimeZone: string;
  /** The dashboard is served only when a password is set. */
  readonly dashboard: { readonly password: string | undefined; readonly sessionHours: number };
  /** No webhook URL and no SMTP: alerts are off. */
  readonly alerts: AlertsConfig;
  /** Finished inbox rows and raw bodies older than this many days are pruned (daily, and `cli prune`). */
  readonly retentionDays: number;
  /** Longest a pooled statement may run (server side), and wait for an answer (client side, a bit more). */
  readonly databaseStatementTimeoutMs: number;
  /** Connections the webhook processor may hold (its own pool): recording never starves the receiving path of connections. */
  readonly processingDbConnections: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** The process environment over an optional `.env` file (real variables win, as operators expect). */
export function readEnv(envFile = '.env', env: NodeJS.ProcessEnv = process.env): Env {
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  return { ...fromFile, ...env };
}

/**
 * `service`: everything (webhook server, all-in-one). `poller`: FUB API access but no webhook key.
 * `database`: only what migrating needs.
 */
export type ConfigPurpose = 'service' | 'poller' | 'database';

/** Builds the frozen config; throws ConfigError naming every missing or malformed variable. */
export function loadConfig(env: Env, purpose: ConfigPurpose = 'service'): Config {
  const problems: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const url = (name: string, protocols: string[]): string | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name} must be a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL (got "${redact(raw)}")`);
      return undefined;
    }
  };
  const boolean = (name: string, fallback = false): boolean => {
    const raw = text(name);
    if (raw === undefined) return fallback;
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    problems.push(`${name} must be "true" or "false" (got "${raw}")`);
    return fallback;
  };

  const databaseUrl = url('DATABASE_URL', ['postgres:', 'postgresql:']);
  // Set but empty is a mistake (a blank Railway variable, `DATABASE_URL=` in .env), never a wish for the
  // embedded database; where the service is deployed, the embedded database's disk is thrown away.
  const deployedBy = text('RAILWAY_ENVIRONMENT') !== undefined ? 'RAILWAY_ENVIRONMENT is set' : text('NODE_ENV') === 'production' ? 'NODE_ENV=production' : undefined;
  if (env.DATABASE_URL !== undefined && databaseUrl === undefined && text('DATABASE_URL') === undefined) {
    problems.push('DATABASE_URL is set but empty: give the postgres:// URL of your database, or remove the variable to use the embedded PostgreSQL (local use only)');
  } else if (env.DATABASE_URL === undefined && deployedBy !== undefined) {
    problems.push(
      `DATABASE_URL is required where the service is deployed (${deployedBy}): the embedded PostgreSQL would keep your data on a disk that is thrown away at the next deploy`,
    );
  }
  const apiKey = text('FUB_API_KEY');
  const checkFub = purpose !== 'database';
  const checkWebhook = purpose === 'service';
  if (checkFub && apiKey === undefined) problems.push('FUB_API_KEY is required: your Follow Up Boss API key (Admin > API)');
  const system = text('FUB_SYSTEM');
  const systemKey = text('FUB_SYSTEM_KEY');
  const webhookAllowUnsigned = boolean('WEBHOOK_ALLOW_UNSIGNED');
  if (checkWebhook && systemKey === undefined && !webhookAllowUnsigned) {
    problems.push(
      'FUB_SYSTEM_KEY is required to verify webhook signatures (set WEBHOOK_ALLOW_UNSIGNED=true to accept unsigned webhooks, which lets anyone write into your data)',
    );
  }
  if (checkFub && systemKey !== undefined && system === undefined) {
    problems.push('FUB_SYSTEM is required when FUB_SYSTEM_KEY is set: the name of your registered FUB system');
  }
  const apiBaseUrl = fubBaseUrl(text('FUB_API_BASE_URL'), problems);
  const logLevel = (text('LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);

  const pollCron = text('POLL_CRON') ?? '*/30 * * * *';
  if (!cron.validate(pollCron)) problems.push(`POLL_CRON must be a cron expression such as "*/30 * * * *" (got "${pollCron}")`);

  const businessTimeZone = text('BUSINESS_TIMEZONE') ?? 'UTC';
  if (!isTimeZone(businessTimeZone)) {
    problems.push(`BUSINESS_TIMEZONE must be an IANA time zone name such as "America/New_York" or "UTC" (got "${businessTimeZone}")`);
  }
  const dashboardPassword = env.DASHBOARD_PASSWORD === undefined || env.DASHBOARD_PASSWORD === '' ? undefined : env.DASHBOARD_PASSWORD;
  if (dashboardPassword !== undefined && dashboardPassword.length < 8) problems.push('DASHBOARD_PASSWORD must be at least 8 characters (or unset to turn the dashboard off)');
  const alerts = readAlertsConfig(text, integer, url, boolean, problems);

  const config: Config = {
    databaseUrl,
    embeddedPostgres: {
      dataDir: text('EMBEDDED_PG_DIR') ?? '.data/postgres',
      port: integer('EMBEDDED_PG_PORT', 5499, 1, 65535),
    },
    fub: { apiKey: apiKey ?? '', system, systemKey, apiBaseUrl: apiBaseUrl.replace(/\/+$/, '') },
    port: integer('PORT', 3000, 0, 65535),
    logLevel,
    webhookAllowUnsigned,
    webhookRequests: {
      bodyTimeoutMs: integer('WEBHOOK_BODY_TIMEOUT_MS', 10_000, 100, 600_000),
      maxBodiesInFlight: integer('WEBHOOK_MAX_BODIES_IN_FLIGHT', 128, 1, 100_000),
      // Railway's edge proxy sets X-Forwarded-For; elsewhere nobody vouches for the header.
      trustProxy: boolean('TRUST_PROXY', text('RAILWAY_ENVIRONMENT') !== undefined),
    },
    processing: {
      // Short, and renewed by heartbeat while the work goes on: a crashed process's events are
      // taken back after this plus one sweep.
      leaseSeconds: integer('PROCESSING_LEASE_SECONDS', 20, 1, 86_400),
      maxAttempts: integer('PROCESSING_MAX_ATTEMPTS', 10, 1, 1000),
      retryBaseSeconds: integer('PROCESSING_RETRY_BASE_SECONDS', 10, 0, 86_400),
      sweepIntervalMs: integer('PROCESSING_SWEEP_MS', 5000, 50, 3_600_000),
    },
    poller: {
      cron: pollCron,
      overlapMs: integer('POLL_OVERLAP_MINUTES', 5, 0, 1440) * 60_000,
    },
    businessTimeZone,
    dashboard: { password: dashboardPassword, sessionHours: integer('DASHBOARD_SESSION_HOURS', 12, 1, 24 * 30) },
    alerts,
    retentionDays: integer('RETENTION_DAYS', 30, 1, 36_500),
    databaseStatementTimeoutMs: integer('DATABASE_STATEMENT_TIMEOUT_SECONDS', 30, 1, 86_400) * 1000,
    processingDbConnections: integer('PROCESSING_DB_CONNECTIONS', 4, 1, 100),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const EMAIL_ADDRESS = /^[^\s@<>,]+@[^\s@<>,]+$/;

function readAlertsConfig(
  text: (name: string) => string | undefined,
  integer: (name: string, fallback: number, min: number, max: number) => number,
  url: (name: string, protocols: string[]) => string | undefined,
  boolean: (name: string) => boolean,
  problems: string[],
): AlertsConfig {
  const webhookUrl = url('ALERT_WEBHOOK_URL', ['https:', 'http:']);
  const mailVariables = ['SMTP_HOST', 'SMTP_PORT', 'SMTP_SECURE', 'SMTP_USER', 'SMTP_PASSWORD', 'ALERT_EMAIL_FROM', 'ALERT_EMAIL_TO'];
  let smtp: SmtpConfig | undefined;
  if (mailVariables.some((name) => text(name) !== undefined)) {
    const host = text('SMTP_HOST');
    const secure = boolean('SMTP_SECURE');
    const port = integer('SMTP_PORT', secure ? 465 : 587, 1, 65535);
    const user = text('SMTP_USER');
    const password = text('SMTP_PASSWORD');
    const from = text('ALERT_EMAIL_FROM');
    const to = (text('ALERT_EMAIL_TO') ?? '').split(',').map((a) => a.trim()).filter((a) => a !== '');
    const missing = [host === undefined && 'SMTP_HOST', from === undefined && 'ALERT_EMAIL_FROM', to.length === 0 && 'ALERT_EMAIL_TO'].filter(Boolean);
    if (missing.length > 0) problems.push(`Alert mail needs ${missing.join(', ')} (set all of SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO, or none of the SMTP_*/ALERT_EMAIL_* variables)`);
    if ((user === undefined) !== (password === undefined)) problems.push('SMTP_USER and SMTP_PASSWORD go together: set both, or neither for a server without login');
    if (from !== undefined && !EMAIL_ADDRESS.test(from)) problems.push(`ALERT_EMAIL_FROM must be one email address (got "${from}")`);
    const badTo = to.filter((a) => !EMAIL_ADDRESS.test(a));
    if (badTo.length > 0) problems.push(`ALERT_EMAIL_TO must be email addresses separated by commas (not "${badTo.join('", "')}")`);
    if (host !== undefined && from !== undefined) smtp = { host, port, secure, user, password, from, to };
  }
  const dailySummaryAt = text('DAILY_SUMMARY_AT');
  if (dailySummaryAt !== undefined) {
    if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(dailySummaryAt)) problems.push(`DAILY_SUMMARY_AT must be a time of day HH:MM from 00:00 to 23:59 (got "${dailySummaryAt}")`);
    else if (webhookUrl === undefined && smtp === undefined && text('ALERT_WEBHOOK_URL') === undefined && text('SMTP_HOST') === undefined) {
      problems.push('DAILY_SUMMARY_AT needs somewhere to send the summary: set ALERT_WEBHOOK_URL or SMTP_HOST (with ALERT_EMAIL_FROM, ALERT_EMAIL_TO)');
    }
  }
  return {
    webhookUrl,
    smtp,
    cooldownMs: integer('ALERT_COOLDOWN_MINUTES', 60, 0, 10_080) * 60_000,
    inboxBacklogMs: integer('ALERT_INBOX_BACKLOG_MINUTES', 15, 1, 1440) * 60_000,
    dailySummaryAt,
  };
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** FUB's base URL: https, since every call carries both keys; plain http only to this machine (a simulator). */
function fubBaseUrl(raw: string | undefined, problems: string[]): string {
  if (raw === undefined) return 'https://api.followupboss.com/v1';
  let parsed: URL | undefined;
  try {
    parsed = new URL(raw);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol === 'https:' || (parsed?.protocol === 'http:' && LOOPBACK_HOSTS.has(parsed.hostname))) return raw;
  problems.push(`FUB_API_BASE_URL must be a https:// URL (http:// only for 127.0.0.1, localhost or ::1) (got "${redact(raw)}")`);
  return 'https://api.followupboss.com/v1';
}

function redact(raw: string): string {
  return raw.replace(/\/\/([^@/]*)@/, '//***@');
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
