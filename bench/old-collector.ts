// The method of the collector this service replaces, for comparison only: webhooks queued in
// memory and handled one at a time, each by re-fetching the person and recording the stage if it
// differs from the last one recorded; optionally with its 30-second per-person "dedup window".
import type { FubClient } from '../src/shared/fub/fub-client.js';

export class OldCollector {
  readonly history = new Map<number, string[]>();
  private readonly queue: number[] = [];
  private readonly lastSeen = new Map<number, number>();
  private working = false;

  constructor(
    private readonly fub: FubClient,
    private readonly dedupWindowMs: number,
  ) {}

  receive(personId: number): void {
    const now = Date.now();
    const seen = this.lastSeen.get(personId);
    if (this.dedupWindowMs > 0 && seen !== undefined && now - seen < this.dedupWindowMs) return; // dropped
    this.lastSeen.set(personId, now);
    this.queue.push(personId);
    void this.work();
  }

  async idle(): Promise<void> {
    while (this.working || this.queue.length > 0) await new Promise((r) => setTimeout(r, 20));
  }

  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    while (this.queue.length > 0) {
      const id = this.queue.shift()!;
      const person = await this.fub.getPerson(id);
      const stages = this.history.get(id) ?? [];
      if (person?.stage && stages[stages.length - 1] !== person.stage) stages.push(person.stage);
      this.history.set(id, stages);
    }
    this.working = false;
  }
}
