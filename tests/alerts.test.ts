import { expect } from 'chai';
import { sql } from 'kysely';
import { createAlertSender } from '../src/alerts/alert-channels.js';
import { createAlertChecker, type AlertChecker } from '../src/alerts/alert-checker.js';
import { localDateTime } from '../src/alerts/daily-summary.js';
import type { AlertsConfig } from '../src/shared/config.js';
import { createDb, type Db } from '../src/shared/db/database.js';
import { replayEvents } from '../src/webhook/webhook-events.repository.js';
import { ChatReceiver, SmtpCatcher } from './support/alert-receivers.js';
import { createHarness, type Harness } from './support/harness.js';

const MIN = 60_000;
const QUALIFIED = 'ACQ - Qualified';
const OFFERS_MADE = 'ACQ - Offers Made';

describe('alerts: chat webhook and mail, once per condition, cooldown, recovery, one replica sends', function () {
  let h: Harness;
  let chat: ChatReceiver;
  let smtp: SmtpCatcher;
  let clock: Date;
  const otherPools: Db[] = [];

  before(async () => {
    h = await createHarness();
    chat = new ChatReceiver();
    smtp = new SmtpCatcher();
    await Promise.all([chat.start(), smtp.start()]);
  });
  beforeEach(async () => {
    await h.reset();
    await sql`TRUNCATE alert_conditions, alert_daily_summaries`.execute(h.tdb.db);
    chat.texts.length = 0;
    chat.status = 200;
    chat.delayMs = 0;
    smtp.mails.length = 0;
    clock = new Date();
  });
  after(async () => {
    await Promise.all(otherPools.map((db) => db.destroy()));
    await Promise.all([chat.stop(), smtp.stop()]);
    await h.close();
  });

  function alertsConfig(extra: Partial<AlertsConfig> = {}): AlertsConfig {
    return {
      webhookUrl: chat.url,
      smtp: { host: '127.0.0.1', port: smtp.port, secure: false, user: undefined, password: undefined, from: 'collector@example.test', to: ['ops@example.test'] },
      cooldownMs: 60 * MIN,
      inboxBacklogMs: 15 * MIN,
      dailySummaryAt: undefined,
      ...extra,
    };
  }

  /** An alert checker as a replica runs it: its own pool on the shared database, our clock. */
  function replica(extra: Partial<AlertsConfig> = {}, timeZone = 'UTC', db: Db = h.tdb.db): AlertChecker {
    const config = alertsConfig(extra);
    const sender = createAlertSender(config, h.log)!;
    return createAlertChecker({ db, log: h.log, config, timeZone, send: (m) => sender.send(m), now: () => clock });
  }

  function newPool(): Db {
    const db = createDb(h.tdb.url, { max: 3 });
    otherPools.push(db);
    return db;
  }

  /** The lines of every chat message since the last call (and checks the mail said the same). */
  function said(): string[] {
    const texts = chat.texts.splice(0);
    const mails = smtp.mails.splice(0);
    expect(mails.map((m) => `${m.subject}\n${m.body}`)).to.deep.equal(texts);
    return texts.flatMap((t) => t.split('\n').slice(1));
  }

  const about = (lines: string[], key: string): string[] => lines.filter((l) => l.includes(`[${key}]`));

  it('a STALE source is said once, to chat and mail, and its recovery once', async () => {
    const checker = replica();
    // A new installation: nothing received yet, no poll yet.
    await checker.checkOnce();
    expect(smtp.mails[0]).to.include({ from: 'collector@example.test' });
    expect(smtp.mails[0]!.to).to.deep.equal(['ops@example.test']);
    expect(said()).to.deep.equal([
      'PROBLEM [stale:polling] polling: STALE - Check polling script',
      'PROBLEM [stale:webhook_peopleCreated] webhook_peopleCreated: STALE - Check webhook server',
      'PROBLEM [stale:webhook_peopleStageUpdated] webhook_peopleStageUpdated: STALE - Check webhook server',
      'PROBLEM [stale:webhook_peopleUpdated] webhook_peopleUpdated: STALE - Check webhook server',
    ]);
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);

    // FUB sends a stage webhook: that source is alive again.
    h.sim.addPerson(1, 'Lead');
    expect((await h.deliver(h.sim.movePerson(1, QUALIFIED).stageUpdated)).status).to.equal(200);
    await h.processor.drain();
    clock = new Date(clock.getTime() + 10 * MIN);
    await checker.checkOnce();
    expect(said()).to.deep.equal(['RECOVERED [stale:webhook_peopleStageUpdated] after 11 min; it was: webhook_peopleStageUpdated: STALE - Check webhook server']);

    // A poll succeeds.
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    expect(about(said(), 'stale:polling')).to.deep.equal(['RECOVERED [stale:polling] after 12 min; it was: polling: STALE - Check polling script']);

    // Two hours without a poll (the poll's row aged as the clock moves): polling turns STALE again.
    await sql`UPDATE poll_runs SET started_at = started_at - interval '2 hours', finished_at = finished_at - interval '2 hours'`.execute(h.tdb.db);
    clock = new Date(clock.getTime() + 2 * 60 * MIN);
    await checker.checkOnce();
    expect(said()).to.deep.equal(['PROBLEM [stale:polling] polling: STALE - Check polling script']);
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);
  });

  it('a failed poll is said once, its recovery once, and a failure within the cooldown waits for it to end', async () => {
    const checker = replica();
    await checker.checkOnce();
    said(); // the new installation's STALE sources
    const poller = h.newPoller();
    h.sim.addPerson(1, 'Lead');
    const fubDown = () => ({ status: 500, body: { errorMessage: 'down' } });

    h.sim.faults.push(fubDown);
    expect((await poller.runOnce()).status).to.equal('failed');
    await checker.checkOnce();
    const [problem, ...others] = about(said(), 'poll_failed');
    expect(others).to.deep.equal([]);
    expect(problem).to.match(/^PROBLEM \[poll_failed\] the last poll failed: .*500.*\(started .*\)/);
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);

    h.sim.faults.length = 0;
    expect((await poller.runOnce()).status).to.equal('succeeded');
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    expect(about(said(), 'poll_failed')).to.deep.equal([`RECOVERED [poll_failed] after 2 min; it was: ${problem!.slice('PROBLEM [poll_failed] '.length)}`]);

    // Fails again 3 minutes after the alert: within the hour's cooldown, so nothing is said...
    h.sim.faults.push(fubDown);
    expect((await poller.runOnce()).status).to.equal('failed');
    clock = new Date(clock.getTime() + 3 * MIN);
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);
    // ...until the cooldown has passed and it still fails.
    clock = new Date(clock.getTime() + 54 * MIN); // 59 min after the alert
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);
    clock = new Date(clock.getTime() + 2 * MIN);
    await checker.checkOnce();
    expect(about(said(), 'poll_failed')).to.have.length(1).and.to.match(/^PROBLEM/);

    // Recovered, then a flap that ends within the cooldown: neither its problem nor its recovery is said.
    h.sim.faults.length = 0;
    await poller.runOnce();
    await checker.checkOnce();
    expect(about(said(), 'poll_failed')).to.have.length(1).and.to.match(/^RECOVERED/);
    h.sim.faults.push(fubDown);
    await poller.runOnce();
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    h.sim.faults.length = 0;
    await poller.runOnce();
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    expect(about(said(), 'poll_failed')).to.deep.equal([]);
  });

  it('dead events are said once, and recover when they are replayed', async () => {
    const checker = replica();
    await checker.checkOnce();
    said();
    h.sim.addPerson(666, 'Lead');
    h.sim.faults.push((req) => (req.query.get('id')?.split(',').includes('666') ? { status: 500, body: {} } : undefined));
    await h.deliver({ ...h.sim.movePerson(666, QUALIFIED).peopleUpdated, eventId: 'poison' });
    await h.processor.drain();
    await checker.checkOnce();
    expect(about(said(), 'dead_events')).to.deep.equal([
      'PROBLEM [dead_events] 1 dead-lettered webhook event(s): npm run cli -- events list --status dead',
    ]);
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);

    h.sim.faults.length = 0;
    expect(await replayEvents(h.tdb.db, { status: 'dead' })).to.deep.equal(['poison']);
    await h.processor.drain();
    clock = new Date(clock.getTime() + 7 * MIN);
    await checker.checkOnce();
    expect(about(said(), 'dead_events')).to.deep.equal([
      'RECOVERED [dead_events] after 7 min; it was: 1 dead-lettered webhook event(s): npm run cli -- events list --status dead',
    ]);
  });

  it('an inbox that backs up is said once it waited longer than ALERT_INBOX_BACKLOG_MINUTES, and recovers when worked off', async () => {
    const checker = replica();
    await checker.checkOnce();
    said();
    h.sim.addPerson(1, 'Lead');
    h.sim.addPerson(2, 'Lead');
    // Stored, but no processor is running.
    await h.deliver([h.sim.movePerson(1, QUALIFIED).stageUpdated, h.sim.movePerson(2, QUALIFIED).peopleUpdated]);
    await checker.checkOnce();
    clock = new Date(clock.getTime() + 15 * MIN - 5_000);
    await checker.checkOnce();
    expect(about(said(), 'inbox_backlog')).to.deep.equal([]);
    clock = new Date(clock.getTime() + 2 * MIN);
    await checker.checkOnce();
    expect(about(said(), 'inbox_backlog')).to.deep.equal([
      'PROBLEM [inbox_backlog] 2 webhook event(s) waiting, the oldest for 16 min: is the processor stuck or FUB unreachable? npm run report',
    ]);
    clock = new Date(clock.getTime() + MIN);
    await checker.checkOnce();
    expect(said()).to.deep.equal([]);
    await h.processor.drain();
    await checker.checkOnce();
    expect(about(said(), 'inbox_backlog')[0]).to.match(/^RECOVERED \[inbox_backlog\] after 1 min; it was: 2 webhook event\(s\) waiting, the oldest for 17 min/);
  });

  it('two replicas checking at the same moment send each message once', async () => {
    chat.delayMs = 150; // the first sender holds its lock while the second arrives
    const replicas = [replica({ cooldownMs: 0 }, 'UTC', newPool()), replica({ cooldownMs: 0 }, 'UTC', newPool())];
    const both = async () => (await Promise.all(replicas.map((r) => r.checkOnce()))).map((o) => o.alerts);
    const first = await both();
    expect(first.filter((o) => o.status === 'checked' && o.sent === 1)).to.have.length(1);
    expect(about(said(), 'stale:polling')).to.have.length(1);
    for (let round = 1; round <= 3; round++) {
      h.sim.addPerson(round, 'Lead');
      await h.deliver(h.sim.movePerson(round, QUALIFIED).stageUpdated);
      clock = new Date(clock.getTime() + 20 * MIN);
      await both();
      expect(about(said(), 'inbox_backlog'), `round ${round}: backlog`).to.have.length(1).and.to.match(/^PROBLEM/);
      await h.processor.drain();
      await both();
      expect(about(said(), 'inbox_backlog'), `round ${round}: recovery`).to.have.length(1).and.to.match(/^RECOVERED/);
    }
    const rows = await h.tdb.db.selectFrom('alert_conditions').select(['key', 'active']).where('key', '=', 'inbox_backlog').execute();
    expect(rows).to.deep.equal([{ key: 'inbox_backlog', active: false }]);
  });

  it('a message no channel took is not lost: the state stays and the next check sends it', async () => {
    const checker = replica({ smtp: undefined });
    chat.status = 500;
    let failure: unknown;
    await checker.checkOnce().catch((error: unknown) => (failure = error));
    expect(String(failure)).to.match(/no alert channel took the message \(webhook\)/);
    expect(await h.tdb.db.selectFrom('alert_conditions').selectAll().execute()).to.deep.equal([]);
    chat.status = 200;
    await checker.checkOnce();
    expect(chat.texts).to.have.length(1);
    expect(about(chat.texts[0]!.split('\n'), 'stale:polling')).to.have.length(1);
  });

  it('the daily summary: yesterday’s arrivals per stage in BUSINESS_TIMEZONE and the health line, once per day across replicas', async () => {
    const zone = 'America/New_York';
    // Business-time instants near now: `day` days from today, at hh:mm New York time.
    const today = localDateTime(new Date(), zone).date;
    const at = (day: number, time: string): Date => {
      const [y, m, d] = today.split('-').map(Number) as [number, number, number];
      const [hh, mm] = time.split(':').map(Number) as [number, number];
      for (const offset of [4, 5]) {
        const candidate = new Date(Date.UTC(y, m - 1, d + day, hh + offset, mm));
        const local = localDateTime(candidate, zone);
        if (local.time === time && local.date === new Date(Date.UTC(y, m - 1, d + day)).toISOString().slice(0, 10)) return candidate;
      }
      throw new Error('no such New York time');
    };
    const yesterday = new Date(at(-1, '12:00').getTime()).toISOString().slice(0, 10);
    h.sim.addPerson(1, 'Lead', at(-2, '09:00'));
    h.sim.addPerson(2, 'Lead', at(-2, '09:00'));
    h.sim.addPerson(3, 'Lead', at(-2, '09:00'));
    // The poller first sees everyone in 'Lead' (first sightings: not arrivals).
    await h.newPoller().runOnce();
    await h.deliver(h.sim.movePerson(1, QUALIFIED, at(-1, '10:00')).stageUpdated);
    await h.deliver(h.sim.movePerson(2, QUALIFIED, at(-1, '11:00')).stageUpdated);
    await h.deliver(h.sim.movePerson(2, OFFERS_MADE, at(-1, '23:45')).stageUpdated); // already "today" in UTC
    await h.deliver(h.sim.movePerson(3, QUALIFIED, at(-2, '23:00')).stageUpdated); // the day before
    await h.deliver(h.sim.movePerson(3, OFFERS_MADE, at(0, '00:30')).stageUpdated); // today
    await h.processor.drain();

    const replicas = [replica({ dailySummaryAt: '08:00' }, zone, newPool()), replica({ dailySummaryAt: '08:00' }, zone, newPool())];
    const summariesSent = async () => {
      const texts = chat.texts.splice(0).filter((t) => t.startsWith('fub-collector daily summary'));
      const mails = smtp.mails.splice(0).filter((m) => m.subject.startsWith('fub-collector daily summary'));
      expect(mails.map((m) => `${m.subject}\n${m.body}`)).to.deep.equal(texts);
      return texts;
    };
    clock = at(0, '07:59');
    await Promise.all(replicas.map((r) => r.checkOnce()));
    expect(await summariesSent()).to.deep.equal([]);
    clock = at(0, '08:00');
    await Promise.all(replicas.map((r) => r.checkOnce()));
    const [summary, ...more] = await summariesSent();
    expect(more).to.deep.equal([]);
    expect(summary!.split('\n')).to.deep.equal([
      `fub-collector daily summary for ${yesterday}: 3 arrival(s)`,
      `Arrivals per stage on ${yesterday} (America/New_York):`,
      `  ${OFFERS_MADE}: 1`,
      `  ${QUALIFIED}: 2`,
      '  total: 3',
      summary!.split('\n')[5]!,
    ]);
    expect(summary!.split('\n')[5]).to.match(/^Health: PROBLEMS: .*webhook_peopleCreated: STALE - Check webhook server/);
    clock = at(0, '15:00');
    await Promise.all(replicas.map((r) => r.checkOnce()));
    expect(await summariesSent()).to.deep.equal([]);
    clock = at(1, '08:00');
    await replicas[1]!.checkOnce();
    expect((await summariesSent()).map((t) => t.split('\n')[0])).to.deep.equal([`fub-collector daily summary for ${today}: 1 arrival(s)`]);
  });
});
