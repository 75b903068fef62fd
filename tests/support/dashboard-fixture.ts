// A pipeline for the dashboard's tests: leads made and moved in the FUB simulator over the last
// weeks, delivered as signed webhooks over HTTP to the real webhook server, then a poll.
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type { Server } from 'node:http';
import { createWebhookApp } from '../../src/webhook/app.js';
import { LoginThrottle } from '../../src/dashboard/login-throttle.js';
import type { Harness } from './harness.js';

export const PASSWORD = 'correct horse battery';
export const TIME_ZONE = 'America/Chicago';
export const STAGES = ['Lead', 'ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted'];
const AGENTS = [
  [7, 'Agent Seven'],
  [9, 'Agent Nine'],
] as const;
const SOURCES = ['Zillow', 'Referral', 'Website'];
const DAY = 86_400_000;

export interface DashboardServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The webhook server with its dashboard on a real port (127.0.0.1). */
export async function startDashboardServer(h: Harness, baseDelayMs = 300): Promise<DashboardServer> {
  const app = createWebhookApp({
    db: h.tdb.db,
    log: h.log,
    systemKey: h.sim.systemKey,
    onStored: () => h.processor.wake(),
    dashboard: {
      password: PASSWORD,
      sessionHours: 1,
      timeZone: TIME_ZONE,
      throttle: new LoginThrottle({ baseDelayMs, maxDelayMs: 5000, forgetAfterMs: 60_000, maxTracked: 100 }),
    },
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, server, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Plays `people` leads through FUB over the last 40 days and records them via webhooks and a poll. */
export async function fillPipeline(h: Harness, url: string, people = 60): Promise<void> {
  const now = h.sim.now().getTime();
  const post = async (payload: unknown): Promise<void> => {
    const { body, signature } = h.sim.sign(payload);
    const res = await fetch(`${url}/webhooks/fub`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'FUB-Signature': signature }, body });
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  };
  // The collector has been watching for 41 days (FUB delivers webhooks within hours, so the backdated
  // events below cannot tell when watching began; an installation 41 days ago is what they stand for).
  await sql`UPDATE collector_state SET watching_since = ${new Date(now - 41 * DAY)}`.execute(h.tdb.db);
  // Someone FUB had before the collector was installed: the poll finds them (a first sighting).
  h.sim.addPerson(9999, 'ACQ - Qualified', new Date(now - 400 * DAY), { firstName: 'Olde', lastName: 'Timer' });
  for (let i = 1; i <= people; i++) {
    const created = now - (40 - (i % 40)) * DAY + i * 60_000;
    const person = h.sim.addPerson(i, 'Lead', new Date(created), { firstName: ['Maria', 'John', 'Wei', 'Aisha', 'Lars'][i % 5]!, lastName: `Lead${i}` });
    const [agentId, agent] = AGENTS[i % 2]!;
    Object.assign(person, { assignedUserId: agentId, assignedTo: agent, source: SOURCES[i % 3] });
    await post(h.sim.envelope('peopleCreated', [i], new Date(created)));
    // Most qualify hours to days later; some get an offer, some of those are turned down.
    if (i % 4 === 0) continue;
    const qualified = Math.min(created + (i % 7) * 5 * 3_600_000 + 3_600_000, now - 60_000);
    await post(h.sim.movePerson(i, 'ACQ - Qualified', new Date(qualified)).stageUpdated);
    if (i % 3 === 0) continue;
    const offered = Math.min(qualified + (i % 5) * 7 * 3_600_000 + 1_800_000, now - 30_000);
    await post(h.sim.movePerson(i, 'ACQ - Offers Made', new Date(offered)).stageUpdated);
    if (i % 5 === 0) await post(h.sim.movePerson(i, 'ACQ - Offer Not Accepted', new Date(Math.min(offered + DAY, now - 10_000))).stageUpdated);
  }
  await h.processor.drain();
  const run = await h.newPoller().runOnce();
  if (run.status !== 'succeeded') throw new Error(`poll ${run.status}`);
}
