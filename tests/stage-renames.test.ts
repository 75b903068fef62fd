// Stages renamed in FUB's settings (same id, new name) never produce moves, and a row's stage id is
// the stage FUB moved the person to: names that change hands, and a new stage renamed before its
// webhook got through (found by an adversarial review; each failed before its fix).
import { expect } from 'chai';
import { sql } from 'kysely';
import type { WebhookEnvelope } from '../fub-simulator/fub-simulator.js';
import { createHarness, type Harness } from './support/harness.js';

const DAY = 86_400_000;

describe('stage renames', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const rows = (personId: number) =>
    sql<{ kind: string; stage_from: string | null; stage_to: string; stage_to_id: number | null }>`
      SELECT kind, stage_from, stage_to, stage_to_id::int AS stage_to_id FROM stage_changes WHERE person_id = ${personId} ORDER BY changed_at, seq`
      .execute(h.tdb.db)
      .then((r) => r.rows);

  async function deliverAll(hooks: WebhookEnvelope[]): Promise<void> {
    for (const hook of hooks) expect((await h.deliver(hook)).status).to.equal(200);
  }

  it('writes no move and keeps the stage ids when FUB swaps two stage names (Lead/Hot) and the person is then edited', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    const leadId = h.sim.stageId('Lead');
    const hotId = h.sim.stageId('Hot');
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    // Lead → Hot, reported by both webhooks FUB sends.
    h.sim.advanceClock(10_000);
    const move = h.sim.movePerson(1, 'Hot');
    await deliverAll([move.stageUpdated, move.peopleUpdated]);
    await h.processor.drain();
    const expected = [
      { kind: 'first_seen', stage_from: null, stage_to: 'Lead', stage_to_id: leadId },
      { kind: 'move', stage_from: 'Lead', stage_to: 'Hot', stage_to_id: hotId },
    ];
    expect(await rows(1)).to.deep.equal(expected);
    // An admin renames "Hot" to "Warm", then "Lead" to "Hot" (ids stay; nobody's `updated` changes).
    h.sim.advanceClock(60_000);
    h.sim.renameStage('Hot', 'Warm');
    h.sim.renameStage('Lead', 'Hot');
    // A full walk learns the stage list; then a note on the person (not a move).
    expect((await h.newPoller().runOnce({ full: true })).status).to.equal('succeeded');
    h.sim.advanceClock(10_000);
    await deliverAll([h.sim.touchPerson(1)]);
    await h.processor.drain();
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    // Nothing moved: the history is unchanged (names as reported, FUB's ids).
    expect(await rows(1)).to.deep.equal(expected);
  });

  it('counts one arrival into a new stage renamed while FUB was still retrying its webhook, not a second for the rename', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    // An admin creates "Hot"; the person moves into it; our server is down, FUB keeps retrying.
    h.sim.advanceClock(60_000);
    const move = h.sim.movePerson(1, 'Hot');
    // Minutes later the admin renames it; then FUB's retries get through.
    h.sim.advanceClock(10 * 60_000);
    h.sim.renameStage('Hot', 'Hot Lead');
    for (const hook of [move.stageUpdated, move.peopleUpdated]) expect((await h.deliver(hook)).status).to.equal(200);
    await h.processor.drain();
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    const { rows } = await sql<{ kind: string; stage_to: string }>`
      SELECT kind, stage_to FROM stage_changes WHERE person_id = 1 ORDER BY changed_at, seq`.execute(h.tdb.db);
    expect(rows.filter((r) => r.kind !== 'first_seen'), 'arrivals').to.have.length(1);
  });

  it('gives rows recorded by name alone the id of a stage created after the stage list was read, once it is known', async () => {
    h.sim.setClock(new Date(Math.floor(Date.now() / 1000) * 1000 + 200));
    h.sim.addPerson(1, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    h.sim.addPerson(2, 'Lead', new Date(h.sim.now().getTime() - 3 * DAY));
    expect((await h.newPoller().runOnce()).status).to.equal('succeeded');
    // A move to a new stage makes the processor read FUB's stage list.
    h.sim.advanceClock(10_000);
    await deliverAll([h.sim.movePerson(2, 'Warm').stageUpdated]);
    await h.processor.drain();
    // Meanwhile an admin creates "Hot" and person 1 moves into it while FUB's stage list will not
    // answer: recorded by name, no id yet.
    h.sim.advanceClock(10_000);
    const hotId = h.sim.stageId('Hot');
    h.sim.faults.push((req) => (req.path === '/v1/stages' ? { status: 503, body: { errorMessage: 'unavailable' } } : undefined));
    await deliverAll([h.sim.movePerson(1, 'Hot').stageUpdated]);
    await h.processor.drain();
    h.sim.faults.length = 0;
    expect((await rows(1)).map((r) => r.stage_to_id)).to.deep.equal([h.sim.stageId('Lead'), null]);
    // Someone else is read in "Hot": its id becomes known, and person 1's row gets it too.
    h.sim.advanceClock(10_000);
    const other = h.sim.movePerson(2, 'Hot');
    await deliverAll([other.peopleUpdated]);
    await h.processor.drain();
    const ids = (await rows(1)).map((r) => r.stage_to_id);
    expect(ids).to.deep.equal([h.sim.stageId('Lead'), hotId]);
  });
});
