import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb } from '../src/shared/db/database.js';
import { migrate, MIGRATIONS_DIR } from '../src/shared/db/migrate.js';
import { recordPersonReports } from '../src/shared/stages/record-person-reports.js';
import { createHarness, type Harness } from './support/harness.js';
import { serverUrl } from './support/test-database.js';

// FUB's person `source` and the assigned agent on every stage_changes row, as known at the move.
describe('lead source and agent on every row', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness();
  });
  beforeEach(() => h.reset());
  after(() => h.close());

  const rowsOf = (personId: number) =>
    h.tdb.db
      .selectFrom('stage_changes')
      .select(['stage_to', 'kind', 'lead_source', 'assigned_user_id', 'assigned_user_name'])
      .where('person_id', '=', personId)
      .orderBy('changed_at')
      .orderBy('seq')
      .execute();

  it('webhooks: the source and agent read with the person go on the row; a later move without a read keeps the last known', async () => {
    const t = Date.now() - 60_000;
    h.sim.addPerson(1, 'Lead', new Date(t - 1000)).source = 'Zillow';
    // peopleStageUpdated without data.stage: the person is fetched, source and agent come with them.
    await h.deliver(h.sim.movePerson(1, 'ACQ - Qualified', new Date(t)).stageUpdatedBare);
    await h.processor.drain();
    // FUB reassigns the lead and corrects its source (peopleUpdated: fetched, no move).
    await h.deliver(h.sim.editPerson(1, { source: 'Referral', assignedUserId: 9, assignedTo: 'Agent Nine' }, new Date(t + 10_000)));
    await h.processor.drain();
    // A move that names its stage is recorded without a fetch: it takes what was last known.
    await h.deliver(h.sim.movePerson(1, 'ACQ - Offers Made', new Date(t + 20_000)).stageUpdated);
    await h.processor.drain();

    const rows = await rowsOf(1);
    expect(rows.map((r) => [r.stage_to, r.lead_source, r.assigned_user_id, r.assigned_user_name])).to.deep.equal([
      ['ACQ - Qualified', 'Zillow', 7, 'Agent Seven'],
      ['ACQ - Offers Made', 'Referral', 9, 'Agent Nine'],
    ]);
    const person = await h.tdb.db.selectFrom('people').select(['lead_source', 'assigned_user_id']).where('person_id', '=', 1).executeTakeFirstOrThrow();
    expect(person).to.deep.equal({ lead_source: 'Referral', assigned_user_id: 9 });
  });

  it('poller: first sightings and moves it finds carry the source', async () => {
    const t = Date.now() - 3_600_000;
    h.sim.addPerson(2, 'Lead', new Date(t)).source = 'Open House';
    h.sim.addPerson(3, 'Lead', new Date(t));
    const poller = h.newPoller();
    await poller.runOnce();
    // After the first poll: within the next poll's reach.
    h.sim.setStage(3, 'ACQ - Qualified', h.sim.now());
    h.sim.editPerson(3, { source: 'Website' }, h.sim.now());
    await poller.runOnce();
    expect((await rowsOf(2)).map((r) => [r.kind, r.lead_source])).to.deep.equal([['first_seen', 'Open House']]);
    // Person 3's first row was recorded while FUB said Zillow; the move found later, Website.
    expect((await rowsOf(3)).map((r) => [r.stage_to, r.lead_source])).to.deep.equal([
      ['Lead', 'Zillow'],
      ['ACQ - Qualified', 'Website'],
    ]);
  });

  it('a row recorded before the source was known gets it at the next read', async () => {
    h.sim.addPerson(4, 'Lead', new Date(Date.now() - 120_000)).source = 'Facebook';
    // Recorded from a webhook naming its stage: nothing about the person is known yet.
    await h.deliver(h.sim.movePerson(4, 'ACQ - Qualified', new Date(Date.now() - 60_000)).stageUpdated);
    await h.processor.drain();
    expect((await rowsOf(4)).map((r) => r.lead_source)).to.deep.equal([null]);
    await h.newPoller().runOnce();
    expect((await rowsOf(4)).map((r) => r.lead_source)).to.deep.equal(['Facebook']);
  });
});

describe('migration 007 (lead source)', () => {
  it('adds the columns, gives existing rows the agent last known, and leaves the source to the next read', async () => {
    const name = `fubtest_leadsrc_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(serverUrl());
    url.pathname = `/${name}`;
    const dir = mkdtempSync(join(tmpdir(), 'fub-migrations-'));
    for (const file of readdirSync(MIGRATIONS_DIR).filter((f) => f < '007')) copyFileSync(join(MIGRATIONS_DIR, file), join(dir, file));
    const client = new pg.Client({ connectionString: url.toString() });
    const db = createDb(url.toString(), { max: 2 });
    try {
      await migrate(url.toString(), undefined, dir);
      await client.connect();
      await client.query(`
        INSERT INTO people (person_id, stage, assigned_user_id, assigned_user_name) VALUES (1, 'B', 5, 'Agent Five');
        INSERT INTO stage_changes (person_id, kind, stage_from, stage_to, changed_at, received_at, source, assigned_user_id, assigned_user_name) VALUES
          (1, 'move', NULL, 'A', '2026-10-01T08:00:00Z', '2026-10-01T08:00:00Z', 'webhook_peopleStageUpdated', NULL, NULL),
          (1, 'move', 'A', 'B', '2026-10-02T08:00:00Z', '2026-10-02T08:00:00Z', 'webhook_peopleStageUpdated', 3, 'Agent Three');`);
      await migrate(url.toString());
      const rows = await client.query('SELECT stage_to, assigned_user_id::int, lead_source FROM stage_changes ORDER BY changed_at');
      expect(rows.rows).to.deep.equal([
        { stage_to: 'A', assigned_user_id: 5, lead_source: null },
        { stage_to: 'B', assigned_user_id: 3, lead_source: null },
      ]);
      // The next read of the person names the source: every row lacking it gets it.
      await db.transaction().execute((trx) =>
        recordPersonReports(trx, {
          personId: 1,
          evidence: [],
          details: { firstName: 'Ann', lastName: 'Lee', assignedUserId: 5, assignedUserName: 'Agent Five', leadSource: 'Zillow' },
        }),
      );
      const after = await client.query('SELECT lead_source FROM stage_changes ORDER BY changed_at');
      expect(after.rows.map((r: { lead_source: string }) => r.lead_source)).to.deep.equal(['Zillow', 'Zillow']);
    } finally {
      await db.destroy();
      await client.end().catch(() => undefined);
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
