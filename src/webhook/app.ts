import Router, { type RouterMiddleware } from '@koa/router';
import Koa from 'koa';
import type { WebhookRequestLimits } from '../shared/config.js';
import type { Db } from '../shared/db/database.js';
import { idsForLog } from '../shared/ids-for-log.js';
import type { Logger } from '../shared/logger.js';
import { createBodyReader } from './body-reader.js';
import { checkHealth } from './health.js';
import { HttpError } from './http-error.js';
import { exceedsJsonDepth } from './json-depth.js';
import { toInboxEvents } from './parse-webhook.js';
import type { Metrics, WebhookOutcome } from '../shared/metrics.js';
import { isValidSignature, isWellFormedSignature } from './verify-signature.js';
import { createInboxWriter } from './inbox-writer.js';
import type { ReceivingLoad } from './receiving-load.js';
import { createDashboardRouter, type DashboardOptions } from '../dashboard/dashboard-router.js';

export const MAX_BODY_BYTES = 1024 * 1024;
/** FUB's envelopes nest 3 deep; far deeper JSON is refused before anything walks it. */
export const MAX_JSON_DEPTH = 64;
const DEFAULT_REQUESTS: WebhookRequestLimits = { bodyTimeoutMs: 10_000, maxBodiesInFlight: 128, trustProxy: false };
/** Where FUB should point; the second is the path registrations of the old system use. */
export const WEBHOOK_PATHS = ['/webhooks/fub', '/webhook/fub/stage-change'] as const;

export interface WebhookAppDeps {
  db: Db;
  /** Where deliveries are written (the runtime's inbox pool); `db` when not given. */
  inboxDb?: Db;
  log: Logger;
  /** The FUB system key that signs webhooks; undefined only when unsigned webhooks were allowed. */
  systemKey: string | undefined;
  /** Called after a delivery with new events is stored, to start processing at once. */
  onStored?: () => void;
  /** When given, counted into and served at GET /metrics. */
  metrics?: Metrics;
  /** When given (DASHBOARD_PASSWORD set), the dashboard is served under /dashboard; else that is 404. */
  dashboard?: Omit<DashboardOptions, 'db' | 'log'>;
  /** Body deadline, bodies read at once, trust in X-Forwarded-For; each defaults as in config. */
  requests?: Partial<WebhookRequestLimits>;
  /** Counts the webhook requests in hand, for the processor to give way to a burst. */
  load?: ReceivingLoad;
}

/** The webhook server as a Koa app; tests drive `app.callback()` without opening a port. */
export function createWebhookApp(deps: WebhookAppDeps): Koa {
  const { db, systemKey } = deps;
  const log = deps.log.child({ component: 'webhook' });
  const inbox = createInboxWriter(deps.inboxDb ?? db);
  const requests = { ...DEFAULT_REQUESTS, ...deps.requests };
  const bodies = createBodyReader({ maxBytes: MAX_BODY_BYTES, timeoutMs: requests.bodyTimeoutMs, maxInFlight: requests.maxBodiesInFlight });
  const app = new Koa();
  // Behind one proxy, only the last X-Forwarded-For entry (the one it added) is not the client's say.
  app.proxy = requests.trustProxy;
  app.maxIpsCount = 1;
  // Errors Koa sees outside the handler: a client that went away mid-request.
  app.on('error', (error: Error) => log.debug({ err: error }, 'connection ended mid-request'));
  const router = new Router();

  // One place turns errors into answers: known ones keep their status, the rest are logged as 500.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      ctx.status = status;
      ctx.body = { ok: false, error: status === 500 ? 'internal error' : (error as Error).message };
      if (status === 503) ctx.set('Retry-After', '5');
      // Answered before the whole body came in: close, rather than read the rest to reuse the socket.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
      if (status === 500) log.error({ err: error, path: ctx.path }, 'unexpected error');
    }
  });

  const receive: RouterMiddleware = async (ctx) => {
    const started = performance.now();
    const count = (outcome: WebhookOutcome): void => {
      if (!deps.metrics) return;
      deps.metrics.webhookRequests.inc({ outcome });
      deps.metrics.ackSeconds.observe((performance.now() - started) / 1000);
    };
    deps.load?.enter();
    try {
      await handleDelivery(ctx, started);
      count(ctx.state.duplicateOnly ? 'duplicate' : 'accepted');
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      count(status === 401 ? 'unauthorized' : status === 503 ? 'unavailable' : status === 500 ? 'error' : 'invalid');
      throw error;
    } finally {
      deps.load?.leave();
    }
  };

  /** `started`: performance.now() when the request came in, the one clock its ack time is read from. */
  const handleDelivery = async (ctx: Koa.Context, started: number): Promise<void> => {
    const signature = ctx.get('FUB-Signature') || undefined;
    // Without a signature nothing the body says can be accepted: refuse before reading it.
    if (systemKey !== undefined && !isWellFormedSignature(signature)) {
      log.warn({ outcome: 'unauthorized', path: ctx.path, ip: ctx.ip, signed: signature !== undefined }, 'webhook rejected: bad signature');
      throw new HttpError(401, signature === undefined ? 'missing FUB-Signature' : 'invalid FUB-Signature');
    }
    const rawBody = await readBody(ctx);
    if (systemKey !== undefined && !isValidSignature(rawBody, signature, systemKey)) {
      log.warn({ outcome: 'unauthorized', path: ctx.path, ip: ctx.ip, signed: true }, 'webhook rejected: bad signature');
      throw new HttpError(401, 'invalid FUB-Signature');
    }
    const text = rawBody.toString('utf8');
    if (exceedsJsonDepth(text, MAX_JSON_DEPTH)) {
      log.warn({ outcome: 'invalid', path: ctx.path, bytes: rawBody.length }, 'webhook rejected: JSON nested too deep');
      throw new HttpError(400, `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      log.warn({ outcome: 'invalid', path: ctx.path, bytes: rawBody.length }, 'webhook rejected: body is not JSON');
      throw new HttpError(400, 'body is not valid JSON');
    }
    const events = toInboxEvents(body);
    let stored;
    try {
      stored = await inbox.store({ path: ctx.path, rawBody: text, events });
    } catch (error) {
      // Never 2xx for something not stored: FUB retries a 503.
      log.error(
        { outcome: 'unavailable', err: error, eventCount: events.length, firstEventIds: events.slice(0, 3).map((e) => e.eventId) },
        'webhook not stored: database unavailable',
      );
      throw new HttpError(503, 'storage unavailable, retry later');
    }
    if (stored.inserted.size > 0) deps.onStored?.();
    const ackMs = performance.now() - started;
    // Skipped whole when info is off: a line per event is work per webhook.
    if (log.isLevelEnabled('info')) for (const event of events) {
      log.info(
        {
          eventId: event.eventId,
          event: event.event,
          ...idsForLog(event.resourceIds),
          outcome: stored.inserted.has(event.eventId) ? 'stored' : 'duplicate',
          deliveryId: stored.deliveryId,
          ackMs,
        },
        'webhook received',
      );
    }
    ctx.status = 200;
    ctx.body = { ok: true, stored: stored.inserted.size, duplicates: events.length - stored.inserted.size };
    ctx.state.duplicateOnly = events.length > 0 && stored.inserted.size === 0;
  };
  for (const path of WEBHOOK_PATHS) router.post(path, receive);

  router.get('/health', async (ctx) => {
    const report = await checkHealth(db, { signatureVerification: systemKey !== undefined, log });
    ctx.status = report.database === 'ok' ? 200 : 503;
    ctx.body = report;
  });

  if (deps.metrics) {
    const metrics = deps.metrics;
    router.get('/metrics', async (ctx) => {
      try {
        await metrics.refresh();
      } catch (error) {
        // Process metrics are still worth serving; fub_metrics_database_ok says the rest are stale.
        log.warn({ err: error }, 'metrics: database gauges not refreshed');
      }
      ctx.set('Content-Type', metrics.registry.contentType);
      ctx.body = await metrics.registry.metrics();
    });
  }

  if (deps.dashboard) app.use(createDashboardRouter({ db, log: deps.log, ...deps.dashboard }).routes());
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;

  async function readBody(ctx: Koa.Context): Promise<Buffer> {
    try {
      return await bodies.read(ctx.req, ctx.request.length);
    } catch (error) {
      if (error instanceof HttpError && (error.status === 408 || error.status === 503)) {
        const outcome = error.status === 408 ? 'too_slow' : 'busy';
        log.warn({ outcome, path: ctx.path, ip: ctx.ip, bodiesInFlight: bodies.inFlight() }, `webhook refused: ${error.message}`);
      }
      throw error;
    }
  }
}
