import { expect } from 'chai';
import { Writable } from 'node:stream';
import { startAlertSchedule } from '../src/alerts/alert-schedule.js';
import type { AlertsConfig } from '../src/shared/config.js';
import { createLogger } from '../src/shared/logger.js';
import { ChatReceiver } from './support/alert-receivers.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { freePort, startWebhookProcess, stopProcess } from './support/webhook-server-process.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { sleep, waitFor } from './support/wait.js';

const OFF: AlertsConfig = { webhookUrl: undefined, smtp: undefined, cooldownMs: 3_600_000, inboxBacklogMs: 900_000, dailySummaryAt: undefined };

function capturedLog(): { log: ReturnType<typeof createLogger>; messages: string[] } {
  const messages: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      messages.push((JSON.parse(chunk.toString()) as { msg: string }).msg);
      done();
    },
  });
  return { log: createLogger('info', sink), messages };
}

describe('alert schedule in the webhook server', () => {
  let tdb: TestDatabase;
  let chat: ChatReceiver;
  before(async () => {
    tdb = await createTestDatabase();
    chat = new ChatReceiver();
    await chat.start();
  });
  after(async () => {
    await chat.stop();
    await tdb.destroy();
  });

  it('with no channel configured says once that alerts are off, and checks nothing', async () => {
    const { log, messages } = capturedLog();
    const schedule = startAlertSchedule({ db: tdb.db, log, config: OFF, timeZone: 'UTC', intervalMs: 20 });
    await sleep(100);
    await schedule.stop();
    expect(messages.filter((m) => m.startsWith('alerts off'))).to.have.length(1);
    expect(await tdb.db.selectFrom('alert_conditions').selectAll().execute()).to.deep.equal([]);
  });

  it('checks at start; stop waits for the check in hand, so its message and state are not cut off', async () => {
    const { log, messages } = capturedLog();
    chat.delayMs = 300;
    const schedule = startAlertSchedule({ db: tdb.db, log, config: { ...OFF, webhookUrl: chat.url }, timeZone: 'UTC', intervalMs: 50 });
    expect(messages).to.include('alerts on');
    // The first check is under way (the receiver answers after 300 ms) when stop is asked.
    await schedule.stop();
    expect(chat.texts).to.have.length(1);
    const saved = await tdb.db.selectFrom('alert_conditions').select('key').where('notified', '=', true).execute();
    expect(saved.map((r) => r.key)).to.include('stale:polling');
  });

  it('checks again on its interval, and not after stop', async () => {
    chat.delayMs = 0;
    const lastCheck = async (): Promise<number> =>
      (await tdb.db.selectFrom('alert_conditions').select((eb) => eb.fn.max('updated_at').as('at')).executeTakeFirstOrThrow()).at?.getTime() ?? 0;
    const before = await lastCheck();
    const schedule = startAlertSchedule({ db: tdb.db, log: capturedLog().log, config: { ...OFF, webhookUrl: chat.url }, timeZone: 'UTC', intervalMs: 50 });
    await waitFor('a first check', async () => (await lastCheck()) > before);
    const first = await lastCheck();
    await waitFor('a check on the interval', async () => (await lastCheck()) > first);
    await schedule.stop();
    const stoppedAt = await lastCheck();
    await sleep(200);
    expect(await lastCheck()).to.equal(stoppedAt);
  });

  it('two real webhook server processes on one database: alerts on at start, one message, a clean stop on SIGTERM', async () => {
    await tdb.reset();
    await tdb.db.deleteFrom('alert_conditions').execute();
    chat.texts.length = 0;
    chat.delayMs = 200;
    const sim = new FubSimulator();
    await sim.start();
    const env = { ALERT_WEBHOOK_URL: chat.url };
    const replicas = await Promise.all([startWebhookProcess(sim, tdb.url, await freePort(), env), startWebhookProcess(sim, tdb.url, await freePort(), env)]);
    try {
      await waitFor('an alert from the replicas', async () => chat.texts.length > 0);
      await sleep(500);
      expect(chat.texts).to.have.length(1);
      expect(chat.texts[0]).to.contain('PROBLEM [stale:polling]');
      const exits = replicas.map((proc) => new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code))));
      for (const proc of replicas) proc.kill('SIGTERM');
      expect(await Promise.all(exits)).to.deep.equal([0, 0]);
    } finally {
      await Promise.all(replicas.map((proc) => stopProcess(proc)));
      await sim.stop();
    }
  });
});
