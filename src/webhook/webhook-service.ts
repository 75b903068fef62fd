import type Koa from 'koa';
import type { FubClient } from '../shared/fub/fub-client.js';
import type { Runtime } from '../shared/runtime.js';
import { createWebhookApp } from './app.js';
import { createEventProcessor, type EventProcessor, type EventProcessorOptions } from './event-processor.js';
import { createReceivingLoad, type ReceivingLoad } from './receiving-load.js';

export interface WebhookService {
  /** Stores each signed webhook and wakes the processor. */
  app: Koa;
  /** Records stored events. Not started: the server (or a test) decides when. */
  processor: EventProcessor;
  /** The processor's FUB client. */
  fub: FubClient;
}

/** A processor recording stored events, on the runtime's processing pool, metrics and FUB budget. */
export function createProcessorFor(
  runtime: Runtime,
  fub: FubClient,
  options: EventProcessorOptions = runtime.config.processing,
  load?: ReceivingLoad,
): EventProcessor {
  return createEventProcessor({ db: runtime.processingDb, log: runtime.log, fub, options, metrics: runtime.metrics, ...(load ? { load } : {}) });
}

/**
 * The webhook server's parts, wired once from a runtime: startWebhookServer serves them, tests call
 * the app without a socket. `processing` and `fub` let a test shorten delays or share a client.
 */
export function buildWebhookService(runtime: Runtime, overrides: { processing?: EventProcessorOptions; fub?: FubClient } = {}): WebhookService {
  const { config, log, db } = runtime;
  const fub = overrides.fub ?? runtime.newFubClient();
  // The processor gives way while a burst is being received (same process, same cores).
  const load = createReceivingLoad();
  const processor = createProcessorFor(runtime, fub, overrides.processing, load);
  const { password, sessionHours } = config.dashboard;
  const dashboard = password === undefined ? undefined : { password, sessionHours, timeZone: config.businessTimeZone };
  const app = createWebhookApp({
    db,
    inboxDb: runtime.inboxDb,
    log,
    systemKey: config.fub.systemKey,
    onStored: () => processor.wake(),
    load,
    metrics: runtime.metrics,
    requests: config.webhookRequests,
    dashboard,
  });
  return { app, processor, fub };
}
