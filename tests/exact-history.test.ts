// The cases that went wrong on FUB's real clocks, end to end: signed webhooks into the real webhook
// app, the event processor, the poller, and the FUB simulator speaking as FUB does (whole seconds,
// its own clock, stage ids, renames, notes that are not moves).
import { expect } from 'chai';
import { sql } from 'kysely';
import { runMonitoringQuery } from '../src/shared/monitoring.js';
import { fubPersonTime, fubSecond, type WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';
import { historyOf, pendingEvents } from './support/history.js';

const LEAD = 'Lead';
const Q = 'ACQ - Qualified';
const OM = 'ACQ - Offers Made';
const ONA = 'ACQ - Offer Not Accepted';
const UC = 'ACQ - Under Contract';
const DAY = 86_400_000;

describe('exact history on FUB-realistic input', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  /** FUB's clock stands at `at` (our clock + `offsetMs` by default) until moved. */
  function fubClockAt(offsetMs = 0): Date {
    const at = new Date(Math.floor((Date.now() + offsetMs) / 1000) * 1000 + 200);
    h.sim.setClock(at);
    return at;
  }

  /** People FUB had for a while, and the installation poll that first meets them. */
  async function install(ids: number[], stage: string, at = new Date(h.sim.now().getTime() - 3 * DAY)): Promise<void> {
    for (const id of ids) h.sim.addPerson(id, stage, at);
    const result = await h.newPoller().runOnce();
    expect(result.status).to.equal('succeeded');
  }

  async function deliverAll(hooks: WebhookEnvelope[]): Promise<void> {
    const answers = await Promise.all(hooks.map((hook) => h.deliver(hook)));
    expect(answers.map((a) => a.status)).to.deep.equal(hooks.map(() => 200));
  }

  function shuffled<T>(items: T[]): T[] {
    return items
      .map((item) => ({ item, key: Math.random() }))
      .sort((a, b) => a.key - b.key)
      .map((x) => x.item);
  }

  const arrivals = async (stage: string): Promise<number> => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM stage_changes WHERE stage_to = ${stage} AND kind <> 'first_seen'`.execute(h.tdb.db);
    return rows[0]!.n;
  };

  it('keeps Q→OM→ONA made inside one second as two moves, whatever order both event types arrive in, twice each', async () => {
    const t = fubClockAt();
    await install([1], Q);
    h.sim.advanceClock(400);
    const om = h.sim.movePerson(1, OM);
    h.sim.advanceClock(300);
    const ona = h.sim.movePerson(1, ONA);
    expect(fubSecond(h.sim.now()).getTime()).to.equal(fubSecond(new Date(t.getTime() + 400)).getTime());
    // The later move's webhooks first, then every webhook again, in one batch each.
    for (const batch of [[ona.stageUpdated, ona.peopleUpdated], [om.stageUpdated, om.peopleUpdated], shuffled([om.stageUpdated, om.peopleUpdated, ona.stageUpdated, ona.peopleUpdated])]) {
      await deliverAll(batch);
    }
    await Promise.all([h.processor.drain(), h.newProcessor().drain()]);
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const second = fubSecond(h.sim.now()).toISOString();
    expect((await historyOf(h.tdb.db, 1)).slice(1)).to.deep.equal([
      { from: Q, to: OM, at: second },
      { from: OM, to: ONA, at: second },
    ]);
    expect([await arrivals(OM), await arrivals(ONA)]).to.deep.equal([1, 1]);
  });

  it('keeps all three moves of A→B→A→B inside one second and ends in B', async () => {
    fubClockAt();
    await install([2], Q);
    const hooks: WebhookEnvelope[] = [];
    for (const stage of [OM, Q, OM]) {
      h.sim.advanceClock(150);
      const move = h.sim.movePerson(2, stage);
      hooks.push(move.stageUpdated, move.peopleUpdated);
    }
    await deliverAll(shuffled([...hooks, ...hooks.slice(0, 3)]));
    await h.processor.drain();
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    expect((await historyOf(h.tdb.db, 2)).map((m) => `${m.from}>${m.to}`)).to.deep.equal([`null>${Q}`, `${Q}>${OM}`, `${OM}>${Q}`, `${Q}>${OM}`]);
    expect((await h.tdb.db.selectFrom('people').select('stage').where('person_id', '=', 2).executeTakeFirstOrThrow()).stage).to.equal(OM);
  });

  it('records exactly 200 moves when 200 people move Q→OM in the same second and a poll follows', async () => {
    fubClockAt();
    const ids = Array.from({ length: 200 }, (_, i) => 100 + i);
    await install(ids, Q);
    h.sim.advanceClock(60_000);
    const hooks = ids.flatMap((id) => {
      const move = h.sim.movePerson(id, OM);
      return [move.stageUpdated, move.peopleUpdated];
    });
    for (let i = 0; i < hooks.length; i += 50) await deliverAll(shuffled(hooks.slice(i, i + 50)));
    const poller = h.newPoller();
    await Promise.all([h.processor.drain(), h.newProcessor().drain(), poller.runOnce()]);
    await h.processor.drain();
    expect((await poller.runOnce()).status).to.equal('succeeded');
    expect(await arrivals(OM)).to.equal(200);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM stage_changes WHERE kind = 'first_seen'`.execute(h.tdb.db);
    expect(rows[0]!.n).to.equal(200);
  });

  /**
   * A history is exact when each of FUB's seconds holds the same moves (inside one second FUB gives
   * no order; any order every report agrees with is right), each row starts where the one before
   * ended, and the last row is FUB's stage now.
   */
  function exactnessProblems(rows: { from: string | null; to: string; at: string }[], truth: { to: string; at: string }[], now: string): string[] {
    const perSecond = (moves: { to: string; at: string }[]): string => moves.map((m) => `${m.at}:${m.to}`).sort().join(' ');
    const problems: string[] = [];
    if (perSecond(rows) !== perSecond(truth)) problems.push(`moves ${perSecond(rows)} instead of ${perSecond(truth)}`);
    rows.forEach((r, i) => i > 0 && r.from !== rows[i - 1]!.to && problems.push(`row ${i} starts from ${r.from}`));
    if (rows[rows.length - 1]?.to !== now) problems.push(`ends in ${rows[rows.length - 1]?.to}, FUB shows ${now}`);
    return problems;
  }

  for (const offsetSeconds of [3, 90, -90, 300, -300]) {
    it(`gives 40 people their exact history with FUB's clock ${offsetSeconds > 0 ? 'ahead of' : 'behind'} ours by ${Math.abs(offsetSeconds)} s`, async () => {
      fubClockAt(offsetSeconds * 1000);
      const ids = Array.from({ length: 40 }, (_, i) => 500 + i);
      await install(ids, LEAD);
      // A one-minute overlap (POLL_OVERLAP_MINUTES=1): a watermark on our clock would skip moves
      // made just after a poll whenever FUB's clock is more than that behind ours.
      const poller = h.newPoller({ overlapMs: 60_000 });
      expect((await poller.runOnce()).status).to.equal('succeeded');
      h.sim.advanceClock(1000);
      const truth = new Map(ids.map((id) => [id, [] as { to: string; at: string }[]]));
      const hooks: WebhookEnvelope[] = [];
      for (const [i, id] of ids.entries()) {
        // A third of the people: webhooks that do not name the stage, so each is fetched (as the
        // live server does, within moments); the rest name it, some moves inside one second.
        const unnamed = i % 3 === 0;
        for (const [k, stage] of [Q, OM, ONA].entries()) {
          h.sim.advanceClock(unnamed || i % 2 === 1 ? 1100 : 400);
          const move = h.sim.movePerson(id, stage);
          truth.get(id)!.push({ to: stage, at: fubSecond(h.sim.now()).toISOString() });
          // One person in five: the last move's webhooks are lost (the poll finds it).
          if (k === 2 && i % 5 === 0) continue;
          if (unnamed) {
            await deliverAll([move.stageUpdatedBare, move.peopleUpdated]);
            await h.processor.drain();
          } else {
            hooks.push(move.stageUpdated, move.peopleUpdated);
          }
        }
        // Some fetches happen only after the person moved on: FUB keeps moving meanwhile.
        if (i % 4 === 1) await deliverAll(hooks.splice(0));
        if (i % 8 === 1) await h.processor.drain();
      }
      await deliverAll(hooks);
      await h.processor.drain();
      h.sim.advanceClock(30 * 60_000);
      expect((await poller.runOnce()).status).to.equal('succeeded');
      const wrong: string[] = [];
      for (const id of ids) {
        const rows = (await historyOf(h.tdb.db, id)).slice(1);
        const problems = exactnessProblems(rows, truth.get(id)!, h.sim.stageName(h.sim.people.get(id)!));
        if (problems.length > 0) wrong.push(`${id}: ${problems.join('; ')}`);
      }
      expect(wrong, 'people with a wrong history').to.deep.equal([]);
    });
  }

  it('counts the first poll\'s leads as first sightings: 5 arrivals this month, not 35', async () => {
    fubClockAt();
    const sitting = Array.from({ length: 30 }, (_, i) => 1000 + i);
    // In Under Contract for 60 days, a note two days ago.
    for (const id of sitting) h.sim.addPerson(id, UC, new Date(h.sim.now().getTime() - 60 * DAY));
    for (const id of sitting) h.sim.touchPerson(id, new Date(h.sim.now().getTime() - 2 * DAY));
    const movers = [2000, 2001, 2002, 2003, 2004];
    await install(movers, Q, new Date(h.sim.now().getTime() - 10 * DAY));
    h.sim.advanceClock(60_000);
    const hooks = movers.flatMap((id) => {
      const move = h.sim.movePerson(id, UC);
      return [move.stageUpdated, move.peopleUpdated];
    });
    await deliverAll(hooks);
    await h.processor.drain();
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const perDay = await runMonitoringQuery<{ stage: string; changes: number }>(h.tdb.db, 'stage_changes_per_day');
    expect(perDay.reduce((n, r) => n + r.changes, 0)).to.equal(5);
    expect(perDay.map((r) => [r.stage, r.changes])).to.deep.equal([[UC, 5]]);
    const timeInStage = await runMonitoringQuery<{ stage: string; completed_stays: number; in_stage_now: number }>(h.tdb.db, 'time_in_stage');
    expect(timeInStage.find((r) => r.stage === UC)).to.include({ in_stage_now: 35 });
    // Someone no poll has met yet, first met through a note (a peopleUpdated that is no move).
    h.sim.addPerson(3000, OM, new Date(h.sim.now().getTime() - 90 * DAY));
    await deliverAll([h.sim.touchPerson(3000)]);
    await h.processor.drain();
    const rows = await h.tdb.db.selectFrom('stage_changes').select(['kind', 'stage_to']).where('person_id', '=', 3000).execute();
    expect(rows).to.deep.equal([{ kind: 'first_seen', stage_to: OM }]);
    expect((await runMonitoringQuery<{ changes: number }>(h.tdb.db, 'stage_changes_per_day')).reduce((n, r) => n + r.changes, 0)).to.equal(5);
  });

  it('records a lead FUB created after installation as arriving in its first stage at `created`', async () => {
    fubClockAt();
    await install([1], LEAD);
    h.sim.advanceClock(90_000);
    const created = h.sim.createPerson(4000, Q);
    h.sim.advanceClock(45_000);
    const note = h.sim.touchPerson(4000);
    // The peopleCreated webhook is lost; a note's peopleUpdated is how we first hear of them.
    await deliverAll([note]);
    await h.processor.drain();
    const rows = await h.tdb.db.selectFrom('stage_changes').select(['kind', 'stage_to', 'changed_at']).where('person_id', '=', 4000).execute();
    expect(rows).to.deep.equal([{ kind: 'created', stage_to: Q, changed_at: new Date(Date.parse(created.eventCreated)) }]);
  });

  it('writes no move when a stage is renamed in FUB, at the next edit, poll or full walk', async () => {
    fubClockAt();
    const ids = [1, 2, 3];
    await install(ids, Q);
    h.sim.advanceClock(60_000);
    await deliverAll(ids.map((id) => h.sim.movePerson(id, 'Contract Sent').stageUpdated));
    await h.processor.drain();
    // xmin changes with any write to a row: nothing may be added, removed or rewritten.
    const rowVersions = () => sql<{ id: number; xmin: string }>`SELECT id, xmin::text FROM stage_changes ORDER BY id`.execute(h.tdb.db).then((r) => r.rows);
    const before = await rowVersions();
    expect(before).to.have.length(6);
    h.sim.renameStage('Contract Sent', 'Contract Out');
    h.sim.advanceClock(60_000);
    await deliverAll([h.sim.touchPerson(1)]);
    await h.processor.drain();
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    expect((await h.newPoller().runOnce({ full: true })).status).to.equal('succeeded');
    expect(await rowVersions()).to.deep.equal(before);
    // A webhook FUB sent before the rename, delivered late, names the old name: the same stage.
    h.sim.advanceClock(1000);
    const late = h.sim.movePerson(2, Q);
    const back = h.sim.movePerson(2, 'Contract Out');
    await deliverAll([{ ...back.stageUpdated, data: { stage: 'Contract Sent' } }, late.stageUpdated]);
    await h.processor.drain();
    expect((await historyOf(h.tdb.db, 2)).map((m) => m.to)).to.deep.equal([Q, 'Contract Sent', Q, 'Contract Sent']);
    const perDay = await runMonitoringQuery<{ stage: string; changes: number }>(h.tdb.db, 'stage_changes_per_day');
    expect(perDay.map((r) => [r.stage, r.changes])).to.deep.equal([['ACQ - Qualified', 1], ['Contract Out', 4]]);
    const ids2 = await h.tdb.db.selectFrom('stage_changes').select('stage_to_id').distinct().execute();
    expect(ids2.every((r) => r.stage_to_id !== null)).to.equal(true);
    expect(await runMonitoringQuery(h.tdb.db, 'stage_disagreements')).to.deep.equal([]);
  });

  it("keeps FUB's stage id on every row, also for a stage first named by a burst of webhooks", async () => {
    fubClockAt();
    const ids = Array.from({ length: 20 }, (_, i) => 50 + i);
    await install(ids, Q);
    h.sim.advanceClock(60_000);
    // A stage created in FUB after installation: its id is learned from FUB's stage list, once,
    // while four events are recorded side by side (FUB slow to answer, so they all wait for it).
    h.sim.latencyMs = 300;
    await deliverAll(ids.map((id) => h.sim.movePerson(id, 'Appointment Set').stageUpdated));
    await h.processor.drain();
    const rows = await h.tdb.db.selectFrom('stage_changes').select(['stage_to', 'stage_to_id']).where('stage_to', '=', 'Appointment Set').execute();
    expect(rows).to.have.length(20);
    expect(rows.filter((r) => r.stage_to_id !== h.sim.stageId('Appointment Set'))).to.deep.equal([]);
    expect(h.sim.requests.filter((r) => r.path === '/v1/stages')).to.have.length(2); // installation, then once for the new name
  });

  it('dates a stage fetched on a retry by FUB, so neither it nor the move before it is lost', async () => {
    const t = fubClockAt();
    await install([7, 70], LEAD);
    h.sim.setClock(new Date(Math.floor(t.getTime() / 60_000) * 60_000 + 60_000 + 49_000));
    // Another person's note, fetched now: our FUB client knows FUB's clock reads :49.
    await deliverAll([h.sim.touchPerson(70)]);
    await h.processor.drain();
    const closed = h.sim.movePerson(7, 'Closed');
    let calls = 0;
    h.sim.faults.push((req) => {
      if (req.path !== '/v1/people' || !req.query.has('id')) return undefined;
      calls += 1;
      if (calls === 1) {
        h.sim.advanceClock(3000); // :52 — FUB moves the person while our fetch keeps failing
        h.sim.movePerson(7, 'Contract Sent');
      }
      return calls <= 3 ? { status: 500, body: { errorMessage: 'try again' } } : undefined;
    });
    await deliverAll([closed.peopleUpdated]);
    await h.processor.drain();
    await deliverAll([closed.stageUpdated]);
    await h.processor.drain();
    expect(calls).to.equal(4);
    const history = await historyOf(h.tdb.db, 7);
    expect(history.slice(1).map((m) => [m.from, m.to, m.at.slice(17, 19)])).to.deep.equal([
      [LEAD, 'Closed', '49'],
      ['Closed', 'Contract Sent', '52'],
    ]);
  });

  it('trims a stage FUB prints with a trailing space, even without its id', async () => {
    fubClockAt();
    await install([8], LEAD);
    h.sim.advanceClock(10_000);
    const move = h.sim.movePerson(8, Q);
    await deliverAll([move.stageUpdated]);
    await h.processor.drain();
    const person = h.sim.people.get(8)!;
    h.sim.faults.push((req) =>
      req.path === '/v1/people' && req.query.get('id') === '8'
        ? {
            status: 200,
            body: {
              _metadata: { collection: 'people', offset: 0, limit: 1, total: 1, next: null },
              people: [{ id: 8, firstName: 'First8', lastName: 'Last8', stage: `${Q} `, updated: fubPersonTime(person.updated), created: fubPersonTime(person.created) }],
            },
          }
        : undefined,
    );
    await deliverAll([move.peopleUpdated]);
    await h.processor.drain();
    expect((await historyOf(h.tdb.db, 8)).map((m) => m.to)).to.deep.equal([LEAD, Q]);
    expect((await h.tdb.db.selectFrom('people').select('fub_stage').where('person_id', '=', 8).executeTakeFirstOrThrow()).fub_stage).to.equal(Q);
  });

  it('marks a person FUB deleted, keeps their history, and does not wait for FUB to show them again', async () => {
    fubClockAt();
    await install([9, 10], LEAD);
    h.sim.advanceClock(10_000);
    const move = h.sim.movePerson(9, Q);
    await deliverAll([move.stageUpdated]);
    await h.processor.drain();
    h.sim.advanceClock(10_000);
    const deleted = h.sim.deletePerson(9);
    await deliverAll([deleted, h.sim.touchPerson(10)]);
    await h.processor.drain();
    await deliverAll([move.peopleUpdated]); // a late fetch for someone FUB no longer shows
    await h.processor.drain();
    expect(await pendingEvents(h.tdb.db)).to.equal(0);
    const statuses = await h.tdb.db.selectFrom('webhook_events').select(['event', 'status']).orderBy('id').execute();
    expect(statuses.map((s) => s.status)).to.deep.equal(['completed', 'completed', 'completed', 'completed']);
    const person = await h.tdb.db.selectFrom('people').select(['deleted_at']).where('person_id', '=', 9).executeTakeFirstOrThrow();
    expect(person.deleted_at?.toISOString()).to.equal(new Date(Date.parse(deleted.eventCreated)).toISOString());
    expect((await historyOf(h.tdb.db, 9)).map((m) => m.to)).to.deep.equal([LEAD, Q]);
  });
});
