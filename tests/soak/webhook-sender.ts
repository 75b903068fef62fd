// FUB's side of webhook delivery: each webhook goes to one of the replicas (a load balancer's pick),
// and one not answered 2xx in time is tried again with backoff, a few times, as FUB does.
import type { FubSimulator, WebhookEnvelope } from '../../fub-simulator/fub-simulator.js';
import { sleep } from '../support/wait.js';
import type { Random } from './random.js';

export interface SenderOptions {
  /** Ports of the replicas; the one each try goes to is picked at random. */
  ports: readonly number[];
  /** Tries per delivery before FUB gives up on it. */
  maxTries?: number;
  /** First retry delay; doubles each try (with jitter). */
  retryBaseMs?: number;
  /** How long FUB waits for an answer before counting the try as failed. */
  timeoutMs?: number;
}

/** One webhook acknowledged with a 2xx, as FUB would note it. */
export interface Acknowledgement {
  eventId: string;
  event: string;
  port: number;
  status: number;
  at: Date;
}

export interface SenderCounts {
  /** Deliveries FUB made (a redelivery counts again). */
  deliveries: number;
  /** HTTP requests, retries included. */
  requests: number;
  /** Requests answered 2xx. */
  acknowledged: number;
  /** Deliveries given up after every try failed. */
  gaveUp: number;
}

export class WebhookSender {
  /** Every 2xx answer, in order. */
  readonly ledger: Acknowledgement[] = [];
  readonly counts: SenderCounts = { deliveries: 0, requests: 0, acknowledged: 0, gaveUp: 0 };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxTries: number;
  private readonly retryBaseMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly sim: FubSimulator,
    private readonly random: Random,
    private readonly options: SenderOptions,
  ) {
    this.maxTries = options.maxTries ?? 7;
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Delivers `hook` after `delayMs` (FUB's queue), retrying until acknowledged or out of tries. */
  send(hook: WebhookEnvelope, delayMs = 0): void {
    const delivery = this.deliver(hook, delayMs).finally(() => this.inFlight.delete(delivery));
    this.inFlight.add(delivery);
  }

  /** Event ids acknowledged at least once. */
  acknowledgedIds(): Set<string> {
    return new Set(this.ledger.map((a) => a.eventId));
  }

  /** Waits for every delivery under way, retries included. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async deliver(hook: WebhookEnvelope, delayMs: number): Promise<void> {
    if (delayMs > 0) await sleep(delayMs);
    this.counts.deliveries += 1;
    for (let attempt = 1; attempt <= this.maxTries; attempt++) {
      const port = this.random.pick(this.options.ports);
      const status = await this.post(port, hook);
      this.counts.requests += 1;
      if (status >= 200 && status < 300) {
        this.counts.acknowledged += 1;
        this.ledger.push({ eventId: hook.eventId, event: hook.event, port, status, at: new Date() });
        return;
      }
      if (attempt === this.maxTries) break;
      const ceiling = this.retryBaseMs * 2 ** (attempt - 1);
      await sleep(ceiling / 2 + this.random.next() * (ceiling / 2));
    }
    this.counts.gaveUp += 1;
  }

  /** One signed POST; the status, or 0 when refused, reset or not answered in time. */
  private async post(port: number, hook: WebhookEnvelope): Promise<number> {
    const { body, signature } = this.sim.sign(hook);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/fub`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }
}
