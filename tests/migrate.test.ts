import { expect } from 'chai';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb } from '../src/shared/db/database.js';
import { migrate, MIGRATIONS_DIR, readMigrations } from '../src/shared/db/migrate.js';
import { runMonitoringQuery } from '../src/shared/monitoring.js';
import { recordPersonReports } from '../src/shared/stages/record-person-reports.js';
import { serverUrl } from './support/test-database.js';

async function withEmptyDatabase(work: (url: string) => Promise<void>): Promise<void> {
  const name = `fubtest_migrate_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  try {
    await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.end();
  }
}

describe('migrations', () => {
  it('are numbered SQL files applied in order', async () => {
    const migrations = await readMigrations();
    expect(migrations.map((m) => m.version)).to.deep.equal(migrations.map((_, i) => i + 1));
  });

  it('apply once when five processes start at the same moment', async () => {
    await withEmptyDatabase(async (url) => {
      const results = await Promise.all(Array.from({ length: 5 }, () => migrate(url)));
      const count = (await readMigrations()).length;
      expect(results.flat()).to.have.length(count);
      expect(await migrate(url)).to.deep.equal([]);
    });
  });

  it('refuse to run when an applied migration was edited', async () => {
    await withEmptyDatabase(async (url) => {
      const dir = mkdtempSync(join(tmpdir(), 'fub-migrations-'));
      writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE a (id int);');
      await migrate(url, undefined, dir);
      writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE a (id bigint);');
      let error: Error | undefined;
      await migrate(url, undefined, dir).catch((e: Error) => (error = e));
      expect(error?.message).to.equal('Migration 1_first was edited after it was applied; add a new migration instead');
    });
  });

  it('roll back a failing migration whole, leaving earlier ones applied', async () => {
    await withEmptyDatabase(async (url) => {
      const dir = mkdtempSync(join(tmpdir(), 'fub-migrations-'));
      writeFileSync(join(dir, '001_ok.sql'), 'CREATE TABLE ok (id int);');
      writeFileSync(join(dir, '002_bad.sql'), 'CREATE TABLE half (id int); SELECT no_such_function();');
      const error = await migrate(url, undefined, dir).catch((e: Error) => e);
      expect((error as Error).message).to.match(/^Migration 2_bad failed/);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query("SELECT to_regclass('ok') IS NOT NULL AS ok, to_regclass('half') IS NOT NULL AS half");
      const applied = await client.query('SELECT version FROM schema_migrations');
      await client.end();
      expect(rows[0]).to.deep.equal({ ok: true, half: false });
      expect(applied.rows).to.deep.equal([{ version: 1 }]);
    });
  });

  it('004 brings rows written at version 3 into the exact-history form, and a rebuild keeps them', async () => {
    await withEmptyDatabase(async (url) => {
      const dir = mkdtempSync(join(tmpdir(), 'fub-migrations-'));
      for (const file of ['001_initial.sql', '002_poll_runs.sql', '003_people_fub_stage.sql']) copyFileSync(join(MIGRATIONS_DIR, file), join(dir, file));
      expect(await migrate(url, undefined, dir)).to.deep.equal([1, 2, 3]);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // As version 3 wrote them: a first sighting by the poller, webhook moves (two in one second),
        // a person first met through peopleCreated.
        await client.query(`
          INSERT INTO poll_runs (mode, status, started_at, finished_at, complete_as_of)
            VALUES ('full', 'succeeded', '2026-10-01T08:00:00Z', '2026-10-01T08:01:00Z', '2026-10-01T08:00:00Z');
          INSERT INTO people (person_id, stage, stage_changed_at) VALUES (1, 'C', '2026-10-02T10:00:05Z'), (2, 'Lead', '2026-10-03T09:00:00Z');
          INSERT INTO stage_changes (person_id, stage_from, stage_to, changed_at, confirmed_at, received_at, source, event_id) VALUES
            (1, NULL, 'A', '2026-10-01T08:00:00Z', '2026-10-01T08:00:00Z', '2026-10-01T08:00:01Z', 'polling', NULL),
            (1, 'A', 'B', '2026-10-02T10:00:05Z', '2026-10-02T10:00:05Z', '2026-10-02T10:00:06Z', 'webhook_peopleStageUpdated', 'e1'),
            (1, 'B', 'C', '2026-10-02T10:00:05Z', '2026-10-02T10:00:05Z', '2026-10-02T10:00:07Z', 'webhook_peopleStageUpdated', 'e2'),
            (2, NULL, 'Lead', '2026-10-03T09:00:00Z', '2026-10-03T09:00:00Z', '2026-10-03T09:00:02Z', 'webhook_peopleCreated', 'e3');`);
        expect(await migrate(url)).to.deep.equal((await readMigrations()).map((m) => m.version).filter((v) => v > 3));
        const { rows } = await client.query<{ id: number; kind: string; stage_to: string; seq: number }>(
          'SELECT id::int, kind, stage_to, seq FROM stage_changes ORDER BY person_id, changed_at, seq',
        );
        expect(rows.map((r) => [r.kind, r.stage_to, r.seq])).to.deep.equal([
          ['first_seen', 'A', 0],
          ['move', 'B', 0],
          ['move', 'C', 1],
          ['created', 'Lead', 0],
        ]);
        const state = await client.query<{ watching_since: Date }>('SELECT watching_since FROM collector_state');
        expect(state.rows[0]!.watching_since.toISOString()).to.equal('2026-10-01T08:00:00.000Z');

        // The next report rebuilds person 1 from the migrated evidence: same rows, same ids, one more.
        const db = createDb(url, { max: 2 });
        try {
          const outcome = await db.transaction().execute((trx) =>
            recordPersonReports(trx, {
              personId: 1,
              evidence: [{ kind: 'move', at: new Date('2026-10-04T12:00:00Z'), stage: { id: null, name: 'D' }, source: 'webhook_peopleStageUpdated', eventId: 'e4', receivedAt: new Date() }],
            }),
          );
          expect({ removed: outcome.removed, revised: outcome.revised, inserted: outcome.inserted.length }).to.deep.equal({ removed: 0, revised: 0, inserted: 1 });
          const after = await client.query<{ id: number; stage_from: string | null; stage_to: string; event_id: string | null }>(
            'SELECT id::int, stage_from, stage_to, event_id FROM stage_changes WHERE person_id = 1 ORDER BY changed_at, seq',
          );
          expect(after.rows.slice(0, 3).map((r) => r.id)).to.deep.equal(rows.slice(0, 3).map((r) => r.id));
          expect(after.rows.map((r) => [r.stage_from, r.stage_to, r.event_id])).to.deep.equal([
            [null, 'A', null],
            ['A', 'B', 'e1'],
            ['B', 'C', 'e2'],
            ['C', 'D', 'e4'],
          ]);
        } finally {
          await db.destroy();
        }
      } finally {
        await client.end();
      }
    });
  });

  it('009 counts rows written at version 8 into the dashboard rollups, and triggers keep them after', async () => {
    await withEmptyDatabase(async (url) => {
      const dir = mkdtempSync(join(tmpdir(), 'fub-migrations-'));
      for (const m of (await readMigrations()).filter((m) => m.version <= 8)) writeFileSync(join(dir, `${String(m.version).padStart(3, '0')}_${m.name}.sql`), m.sql);
      expect(await migrate(url, undefined, dir)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
      // The migration counts days in its session's zone: make that a zone whose days begin on the half hour.
      const zoned = new URL(url);
      zoned.searchParams.set('options', '-c TimeZone=Asia/Kolkata');
      const client = new pg.Client({ connectionString: zoned.toString() });
      await client.connect();
      const db = createDb(url, { max: 2 });
      try {
        await client.query(`
          INSERT INTO stages (stage_id, name) VALUES (1, 'Lead'), (2, 'Qualified');
          INSERT INTO stage_changes (person_id, kind, stage_to, stage_to_id, changed_at, seq, received_at, source, assigned_user_name, lead_source) VALUES
            (1, 'first_seen', 'Lead', 1, '2026-03-01T18:29:59Z', 0, now(), 'polling', NULL, NULL),
            (1, 'move', 'Qualified', 2, '2026-03-01T18:30:00Z', 0, now(), 'webhook_peopleStageUpdated', 'Ann', 'Zillow'),
            (1, 'move', 'Lead', 1, '2026-03-01T18:30:00Z', 1, now(), 'webhook_peopleStageUpdated', 'Ann', 'Zillow'),
            (2, 'created', 'Lead', 1, '2026-03-02T09:00:00Z', 0, now(), 'webhook_peopleCreated', NULL, 'Referral'),
            (2, 'move', 'Walk-in', NULL, '2026-03-05T09:00:00Z', 0, now(), 'polling', 'Bob', 'Referral');`);
        const later = (await readMigrations()).map((m) => m.version).filter((v) => v >= 9);
        expect(await migrate(zoned.toString())).to.deep.equal(later);
        const leftAt = await client.query<{ left_at: Date | null }>('SELECT left_at FROM stage_changes ORDER BY person_id, changed_at, seq');
        expect(leftAt.rows.map((r) => r.left_at?.toISOString() ?? null)).to.deep.equal([
          '2026-03-01T18:30:00.000Z',
          '2026-03-01T18:30:00.000Z',
          null,
          '2026-03-05T09:00:00.000Z',
          null,
        ]);
        expect((await client.query('SELECT zone FROM rollup_zone')).rows).to.deep.equal([{ zone: 'Asia/Kolkata' }]);
        await client.query(`INSERT INTO stage_changes (person_id, kind, stage_to, stage_to_id, changed_at, seq, received_at, source)
                            VALUES (2, 'move', 'Qualified', 2, '2026-03-03T20:00:00Z', 0, now(), 'polling')`);
        const both = async (query: 'stage_changes_per_day' | 'time_in_stage', params: Record<string, string>) => [
          await runMonitoringQuery(db, query, { timeZone: 'Asia/Kolkata', params }),
          await runMonitoringQuery(db, query, { timeZone: 'Asia/Kolkata', params: { ...params, plain: 'on' } }),
        ];
        const [arrivals, plainArrivals] = await both('stage_changes_per_day', { from: '2026-03-01', to: '2026-03-06', group_by: 'agent' });
        expect(arrivals).to.deep.equal(plainArrivals);
        expect(arrivals!.map((r) => [(r.day as Date).getDate(), r.stage, r.grp, r.changes])).to.have.deep.members([
          [5, 'Walk-in', 'Bob', 1],
          [4, 'Qualified', '(no agent)', 1],
          [2, 'Lead', '(no agent)', 1],
          [2, 'Lead', 'Ann', 1],
          [2, 'Qualified', 'Ann', 1],
        ]);
        const [stays, plainStays] = await both('time_in_stage', {});
        expect(stays).to.deep.equal(plainStays);
        expect(stays!.find((r) => r.stage === 'Lead')).to.include({ completed_stays: 1, median_hours: 35 });
      } finally {
        await db.destroy();
        await client.end();
      }
    });
  });

  it('live in the project migrations/ folder', () => {
    expect(MIGRATIONS_DIR.endsWith('/migrations/')).to.equal(true);
  });
});
