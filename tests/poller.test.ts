import { expect } from 'chai';
import { sql } from 'kysely';
import type { PollResult } from '../src/poller/poller.js';
import type { SimRequest } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';
import { historyOf } from './support/history.js';
import { waitFor } from './support/wait.js';

const HOUR = 3_600_000;

/** A page of the people listing (not the one-person probe of FUB's sort order). */
const isPageRequest = (req: SimRequest): boolean => req.path === '/v1/people' && req.query.get('limit') === '100';
const STAGES = ['ACQ - Qualified', 'ACQ - Offers Made', 'ACQ - Offer Not Accepted', 'Nurture'];

describe('the poller', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  /** `count` people in FUB, last touched two days ago. */
  function seedPeople(first: number, count: number, stage = 'Lead'): number[] {
    const ids = Array.from({ length: count }, (_, i) => first + i);
    const twoDaysAgo = new Date(Date.now() - 48 * HOUR);
    for (const id of ids) h.sim.addPerson(id, stage, twoDaysAgo);
    return ids;
  }

  /** As if a poll had succeeded at `at` (the poller has been running all along). */
  async function pollSucceededAt(at: Date): Promise<void> {
    await h.tdb.db
      .insertInto('poll_runs')
      .values({ mode: 'incremental', started_at: at, finished_at: at, status: 'succeeded', complete_as_of: at })
      .execute();
  }

  /** Every person's latest row names the stage FUB shows now, and no move is recorded twice. */
  async function expectMatchesFub(ids: number[]): Promise<void> {
    const { rows } = await sql<{ person_id: number; stage_to: string }>`
      SELECT DISTINCT ON (person_id) person_id, stage_to FROM stage_changes
      ORDER BY person_id, changed_at DESC, seq DESC`.execute(h.tdb.db);
    const latest = new Map(rows.map((r) => [r.person_id, r.stage_to]));
    const wrong = ids.filter((id) => latest.get(id) !== h.sim.stageName(h.sim.people.get(id)!));
    expect(wrong, 'people whose latest row disagrees with FUB').to.deep.equal([]);
    const { rows: dupes } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM (
        SELECT person_id, stage_to, stage_from FROM stage_changes GROUP BY 1, 2, 3 HAVING count(*) > 1) d`.execute(h.tdb.db);
    expect(dupes[0]!.n, 'moves recorded twice').to.equal(0);
  }

  async function backfillSeen(): Promise<number> {
    return (await h.tdb.db.selectFrom('poll_state').select('backfill_people_seen').executeTakeFirstOrThrow()).backfill_people_seen;
  }

  type FinishedPoll = Exclude<PollResult, { status: 'skipped' }>;
  function succeeded(result: PollResult): FinishedPoll {
    expect(result.status, JSON.stringify(result)).to.equal('succeeded');
    return result as FinishedPoll;
  }

  it('fills the moves whose webhooks were dropped (30%), without double counting, in few calls', async () => {
    const ids = seedPeople(1000, 2000);
    // What we knew before: everyone in Lead, from an earlier poll an hour ago.
    succeeded(await h.newPoller().runOnce({ full: true }));
    await h.tdb.db.updateTable('poll_runs').set({ complete_as_of: new Date(Date.now() - HOUR) }).execute();
    const moved = ids.slice(0, 300);
    const tenMinutesAgo = Date.now() - 10 * 60_000;
    const dropped: number[] = [];
    for (let i = 0; i < moved.length; i++) {
      const hooks = h.sim.movePerson(moved[i]!, STAGES[i % STAGES.length]!, new Date(tenMinutesAgo + i * 100));
      if (i % 10 < 3) {
        dropped.push(moved[i]!);
        continue;
      }
      const res = await h.deliver(hooks.stageUpdated);
      expect(res.status).to.equal(200);
    }
    await h.processor.drain();
    const poller = h.newPoller();
    const first = succeeded(await poller.runOnce());
    expect(first.mode).to.equal('incremental');
    expect(first.counts.changes_inserted).to.equal(dropped.length);
    expect(first.counts.api_calls).to.equal(4); // 300 recent people: 3 pages, the 4th reaches the watermark
    await expectMatchesFub(ids);
    const polled = await h.tdb.db.selectFrom('stage_changes').select('person_id').where('source', '=', 'polling').where('stage_from', 'is not', null).execute();
    expect(polled.map((r) => r.person_id).sort()).to.deep.equal(dropped.sort());

    // Right after: nothing new, and it stops on the first page.
    const second = succeeded(await poller.runOnce());
    expect(second.counts.changes_inserted).to.equal(0);
    expect(second.counts.api_calls).to.be.at.most(2);
    await expectMatchesFub(ids);
  });

  it('records one row when a webhook and a poll handle the same people at the same moment', async () => {
    const ids = seedPeople(3000, 50);
    succeeded(await h.newPoller().runOnce({ full: true }));
    await h.tdb.db.updateTable('poll_runs').set({ complete_as_of: new Date(Date.now() - HOUR) }).execute();
    for (const id of ids) await h.deliver(h.sim.movePerson(id, 'ACQ - Offers Made', new Date(Date.now() - 60_000)).stageUpdated);
    const [, result] = await Promise.all([h.newProcessor({ batchSize: 5 }).drain(), h.newPoller().runOnce()]);
    succeeded(result);
    for (const id of ids) {
      expect((await historyOf(h.tdb.db, id)).map((m) => m.to)).to.deep.equal(['Lead', 'ACQ - Offers Made']);
    }
  });

  it('skips with the NOT EXISTS guard a stale read of a stage recorded within 5 minutes', async () => {
    h.sim.addPerson(1, 'Lead', new Date(Date.now() - 48 * HOUR));
    const t = Date.now() - 30 * 60_000;
    await h.deliver(h.sim.movePerson(1, 'ACQ - Offers Made', new Date(t)).stageUpdated);
    await h.deliver(h.sim.movePerson(1, 'ACQ - Offer Not Accepted', new Date(t + 4 * 60_000)).stageUpdated);
    await h.processor.drain();
    // FUB's list lags and still shows the earlier stage, stamped 2 minutes after it was set.
    h.sim.setStage(1, 'ACQ - Offers Made', new Date(t + 2 * 60_000));
    await pollSucceededAt(new Date(Date.now() - HOUR));
    const result = succeeded(await h.newPoller().runOnce());
    expect(result.counts.changes_skipped_as_duplicate).to.equal(1);
    expect(result.counts.changes_inserted).to.equal(0);
    expect((await historyOf(h.tdb.db, 1)).map((m) => m.to)).to.deep.equal(['ACQ - Offers Made', 'ACQ - Offer Not Accepted']);
  });

  it('catches in the next poll a change made while a poll was running', async () => {
    const ids = seedPeople(4000, 250);
    await pollSucceededAt(new Date(Date.now() - HOUR));
    for (const id of ids.slice(0, 150)) h.sim.movePerson(id, 'ACQ - Qualified', new Date(Date.now() - 20 * 60_000));
    let listCalls = 0;
    h.sim.faults.push((req) => {
      // While the poller reads page 2, someone moves a person it has already passed.
      if (isPageRequest(req) && ++listCalls === 2) h.sim.movePerson(4149, 'ACQ - Offers Made', new Date());
      return undefined;
    });
    const poller = h.newPoller();
    succeeded(await poller.runOnce());
    // 4149 was on page 1 (newest first), read before it moved.
    expect((await historyOf(h.tdb.db, 4149)).map((m) => m.to)).to.deep.equal(['ACQ - Qualified']);
    succeeded(await poller.runOnce());
    expect((await historyOf(h.tdb.db, 4149)).map((m) => m.to)).to.deep.equal(['ACQ - Qualified', 'ACQ - Offers Made']);
    await expectMatchesFub(ids.slice(0, 150));
  });

  it('loses nothing when FUB fails on page 3: the watermark holds and the next poll catches up', async () => {
    const ids = seedPeople(5000, 500);
    await pollSucceededAt(new Date(Date.now() - HOUR));
    for (const id of ids) h.sim.movePerson(id, 'ACQ - Qualified', new Date(Date.now() - 20 * 60_000 + (id - 5000) * 1000));
    let pages = 0;
    let broken = true;
    h.sim.faults.push((req) => {
      if (req.path !== '/v1/people') return undefined;
      if (!req.query.has('next')) pages = 0;
      pages += 1;
      return broken && pages >= 3 ? { status: 500, body: { errorMessage: 'FUB is down' } } : undefined;
    });
    const poller = h.newPoller();
    const failed = await poller.runOnce();
    expect(failed.status).to.equal('failed');
    broken = false;
    const retried = succeeded(await poller.runOnce());
    const runs = await h.tdb.db.selectFrom('poll_runs').select(['status', 'watermark', 'error']).orderBy('id').execute();
    expect(runs.map((r) => r.status)).to.deep.equal(['succeeded', 'failed', 'succeeded']);
    expect(runs[1]!.error).to.match(/answered 500/);
    expect(runs[2]!.watermark!.getTime()).to.equal(runs[1]!.watermark!.getTime());
    expect(retried.counts.changes_inserted).to.equal(300); // pages 1-2 (200 people) were kept from the failed poll
    await expectMatchesFub(ids);
  });

  it('runs one poll when two pollers start at once, and skips a tick that comes mid-poll', async () => {
    seedPeople(6000, 300);
    h.sim.latencyMs = 100; // slow enough for the two to overlap
    const a = h.newPoller();
    const b = h.newPoller();
    const [ra, rb] = await Promise.all([a.runOnce({ full: true }), b.runOnce({ full: true })]);
    expect([ra.status, rb.status].sort()).to.deep.equal(['skipped', 'succeeded']);
    const runs = await h.tdb.db.selectFrom('poll_runs').select('status').execute();
    expect(runs).to.deep.equal([{ status: 'succeeded' }]);

    const first = a.runOnce({ full: true });
    const tick = await a.runOnce();
    expect(tick).to.deep.equal({ status: 'skipped', reason: 'previous poll still running' });
    succeeded(await first);
  });

  it('waits out a 429 Retry-After before the next page', async () => {
    seedPeople(7000, 150);
    let limited = false;
    h.sim.faults.push((req) => {
      if (req.path !== '/v1/people' || !req.query.has('next') || limited) return undefined;
      limited = true;
      return { status: 429, headers: { 'Retry-After': '1' }, body: { errorMessage: 'Too many requests' } };
    });
    const result = succeeded(await h.newPoller().runOnce({ full: true }));
    const list = h.sim.requests.filter(isPageRequest);
    expect(list).to.have.length(3);
    expect(list[2]!.at - list[1]!.at).to.be.at.least(950);
    expect(result.counts.people_seen).to.equal(150);
  });

  it('records a move to Trash (people FUB hides unless includeTrash=true)', async () => {
    seedPeople(8000, 5);
    succeeded(await h.newPoller().runOnce({ full: true }));
    h.sim.movePerson(8002, 'Trash', new Date(Date.now() - 60_000));
    succeeded(await h.newPoller().runOnce());
    expect((await historyOf(h.tdb.db, 8002)).map((m) => m.to)).to.deep.equal(['Lead', 'Trash']);
    expect(h.sim.requests.filter((r) => r.path === '/v1/people').every((r) => r.query.get('includeTrash') === 'true')).to.equal(true);
  });

  it('reads every page when FUB ignores the descending sort, still finding every change', async () => {
    const ids = seedPeople(9000, 250);
    h.sim.ignoreDescending = true;
    succeeded(await h.newPoller().runOnce({ full: true }));
    expect((await h.tdb.db.selectFrom('poll_state').select('descending_sort').executeTakeFirstOrThrow()).descending_sort).to.equal(false);
    await h.tdb.db.updateTable('poll_runs').set({ complete_as_of: new Date(Date.now() - HOUR) }).execute();
    for (const id of [9003, 9100, 9249]) h.sim.movePerson(id, 'ACQ - Qualified', new Date(Date.now() - 60_000));
    const result = succeeded(await h.newPoller().runOnce());
    expect(result.counts.pages).to.equal(3);
    expect(result.counts.changes_inserted).to.equal(3);
    await expectMatchesFub(ids);
  });

  it('walks 10,000 people on a first run with the next cursor, and resumes an interrupted walk', async () => {
    const ids = seedPeople(10_000, 10_000);
    let fail = true;
    h.sim.faults.push((req) => (fail && req.path === '/v1/people' && h.sim.requests.length > 40 ? { status: 503, body: {} } : undefined));
    const poller = h.newPoller();
    const broken = await poller.runOnce();
    expect(broken.status).to.equal('failed');
    const state = await h.tdb.db.selectFrom('poll_state').selectAll().executeTakeFirstOrThrow();
    expect(state.backfill_cursor).to.be.a('string');
    expect(state.backfill_people_seen).to.be.within(3000, 4100);
    fail = false;
    h.sim.requests.length = 0;
    const resumed = succeeded(await poller.runOnce());
    expect(resumed.mode).to.equal('full');
    expect(resumed.counts.pages).to.be.within(60, 70); // only the rest
    expect(h.sim.requests.filter((r) => r.path === '/v1/people' && r.query.has('next'))).to.have.length(resumed.counts.pages);
    const { rows } = await sql<{ n: number }>`SELECT count(DISTINCT person_id)::int AS n FROM stage_changes`.execute(h.tdb.db);
    expect(rows[0]!.n).to.equal(ids.length);
    expect((await h.tdb.db.selectFrom('poll_state').selectAll().executeTakeFirstOrThrow()).backfill_cursor).to.equal(null);
    // The next poll is incremental and cheap.
    const next = succeeded(await poller.runOnce());
    expect(next.mode).to.equal('incremental');
    expect(next.counts.api_calls).to.equal(1);
  });

  it('stops after the current page when told to, and the next poll resumes the walk', async () => {
    seedPeople(20_000, 1000);
    h.sim.latencyMs = 80;
    const poller = h.newPoller();
    const running = poller.runOnce({ full: true });
    await waitFor('300 people walked', async () => (await backfillSeen()) >= 300);
    await poller.stop();
    const stopped = await running;
    expect(stopped.status).to.equal('interrupted');
    const seen = await backfillSeen();
    expect(seen).to.be.within(300, 900);
    const resumed = succeeded(await poller.runOnce());
    expect(resumed.mode).to.equal('full');
    expect(resumed.counts.people_seen).to.equal(1000 - seen);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM stage_changes`.execute(h.tdb.db);
    expect(rows[0]!.n).to.equal(1000);
  });

  it('notices when FUB answers sort=-updated in another order (created), and reads every page', async () => {
    const ids = seedPeople(30_000, 250);
    // Varied update times, unrelated to creation order.
    for (const id of ids) h.sim.people.get(id)!.updated = new Date(Date.now() - 48 * HOUR + ((id * 7919) % 250) * 60_000);
    h.sim.descendingFallsBackToCreated = true;
    succeeded(await h.newPoller().runOnce({ full: true }));
    expect((await h.tdb.db.selectFrom('poll_state').select('descending_sort').executeTakeFirstOrThrow()).descending_sort).to.equal(false);
    await h.tdb.db.updateTable('poll_runs').set({ complete_as_of: new Date(Date.now() - HOUR) }).execute();
    h.sim.movePerson(30_249, 'ACQ - Qualified', new Date(Date.now() - 60_000)); // created last: on the last page
    const result = succeeded(await h.newPoller().runOnce());
    expect(result.counts.pages).to.equal(3);
    expect(result.counts.changes_inserted).to.equal(1);
  });

  it('starts the full walk over when FUB refuses the saved cursor, and follows nextLink when next is absent', async () => {
    seedPeople(40_000, 450);
    h.sim.onlyNextLink = true;
    h.sim.latencyMs = 100;
    const poller = h.newPoller();
    const running = poller.runOnce({ full: true });
    await waitFor('200 people walked', async () => (await backfillSeen()) >= 200);
    await poller.stop();
    expect((await running).status).to.equal('interrupted');
    const { backfill_cursor: saved } = await h.tdb.db.selectFrom('poll_state').select('backfill_cursor').executeTakeFirstOrThrow();
    expect(saved).to.be.a('string');
    let expired = true; // FUB refuses it once; a fresh walk may come by the same position again
    h.sim.faults.push((req) => {
      if (!expired || req.query.get('next') !== saved) return undefined;
      expired = false;
      return { status: 400, body: { errorMessage: 'Invalid next' } };
    });
    const restarted = succeeded(await poller.runOnce());
    expect(restarted.counts.people_seen).to.equal(450);
    const { rows } = await sql<{ n: number }>`SELECT count(DISTINCT person_id)::int AS n FROM stage_changes`.execute(h.tdb.db);
    expect(rows[0]!.n).to.equal(450);
    expect((await h.tdb.db.selectFrom('poll_state').select('backfill_cursor').executeTakeFirstOrThrow()).backfill_cursor).to.equal(null);
  });
});
