import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrate, MIGRATIONS_DIR, readMigrations } from '../src/shared/db/migrate.js';
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

  it('live in the project migrations/ folder', () => {
    expect(MIGRATIONS_DIR.endsWith('/migrations/')).to.equal(true);
  });
});
