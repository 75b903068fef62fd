import { webhookSchema, webhooksAnswerSchema, type FubWebhook } from './fub-answers.js';
import type { FubClient } from './fub-client.js';

export type { FubWebhook };

/** The events the collector needs: stage moves, the person events that may carry one, and deletions. */
export const COLLECTOR_EVENTS = ['peopleStageUpdated', 'peopleUpdated', 'peopleCreated', 'peopleDeleted'] as const;

/** FUB's documented limit is a couple of webhooks per event per system. */
export const WEBHOOKS_PER_EVENT = 2;

export type RegistrationResult =
  | { event: string; action: 'created' | 'exists' | 'reactivated'; webhook: FubWebhook }
  | { event: string; action: 'limit-reached'; webhooks: FubWebhook[] };

/** This system's webhooks in FUB. */
export async function listWebhooks(fub: FubClient): Promise<FubWebhook[]> {
  return (await fub.get('/webhooks', webhooksAnswerSchema, { limit: 100 })).webhooks;
}

/**
 * Makes sure each event has a webhook to `url`: creates what is missing, re-enables one FUB
 * disabled, leaves the rest alone. Running it twice creates nothing the second time.
 */
export async function registerWebhooks(fub: FubClient, url: string, events: readonly string[] = COLLECTOR_EVENTS): Promise<RegistrationResult[]> {
  if (!/^https:\/\/[^\s/]+/.test(url)) throw new Error(`FUB only calls https:// URLs; got "${url}"`);
  const existing = await listWebhooks(fub);
  const results: RegistrationResult[] = [];
  for (const event of events) {
    const forEvent = existing.filter((w) => w.event === event);
    const same = forEvent.find((w) => w.url === url);
    if (same && same.status !== 'Active') {
      results.push({ event, action: 'reactivated', webhook: await fub.put(`/webhooks/${same.id}`, { status: 'Active' }, webhookSchema) });
    } else if (same) {
      results.push({ event, action: 'exists', webhook: same });
    } else if (forEvent.length >= WEBHOOKS_PER_EVENT) {
      results.push({ event, action: 'limit-reached', webhooks: forEvent });
    } else {
      results.push({ event, action: 'created', webhook: await fub.post('/webhooks', { event, url }, webhookSchema) });
    }
  }
  return results;
}

/** Re-enables every webhook of this system that FUB disabled (after repeated failed deliveries). */
export async function reactivateWebhooks(fub: FubClient): Promise<FubWebhook[]> {
  const disabled = (await listWebhooks(fub)).filter((w) => w.status !== 'Active');
  const reactivated: FubWebhook[] = [];
  for (const hook of disabled) reactivated.push(await fub.put(`/webhooks/${hook.id}`, { status: 'Active' }, webhookSchema));
  return reactivated;
}
