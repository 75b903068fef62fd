import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, readEnv } from '../src/shared/config.js';
import { problemsOf } from './support/config-problems.js';

const VALID = { FUB_API_KEY: 'key', FUB_SYSTEM: 'fub-collector', FUB_SYSTEM_KEY: 'secret' };


describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(VALID);
    expect(config.databaseUrl).to.equal(undefined);
    expect(config.port).to.equal(3000);
    expect(config.logLevel).to.equal('info');
    expect(config.fub.apiBaseUrl).to.equal('https://api.followupboss.com/v1');
    expect(config.webhookAllowUnsigned).to.equal(false);
    expect(config.retentionDays).to.equal(30);
    expect(config.databaseStatementTimeoutMs).to.equal(30_000);
    // A crashed process's events come back within 30 s: the lease plus one sweep.
    expect(config.processing.leaseSeconds * 1000 + config.processing.sweepIntervalMs).to.be.at.most(30_000);
    expect(Object.isFrozen(config) && Object.isFrozen(config.fub)).to.equal(true);
  });

  it('names every missing variable at once', () => {
    const problems = problemsOf({});
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(/^FUB_API_KEY is required/);
    expect(problems[1]).to.match(/^FUB_SYSTEM_KEY is required/);
  });

  it('names every malformed variable', () => {
    const problems = problemsOf({ ...VALID, DATABASE_URL: 'mysql://u:pw@h/db', PORT: 'eighty', LOG_LEVEL: 'loud', FUB_API_BASE_URL: 'ftp://x', WEBHOOK_ALLOW_UNSIGNED: 'yes' });
    expect(problems).to.deep.equal([
      'DATABASE_URL must be a postgres:// or postgresql:// URL (got "mysql://***@h/db")',
      'WEBHOOK_ALLOW_UNSIGNED must be "true" or "false" (got "yes")',
      'FUB_API_BASE_URL must be a https:// URL (http:// only for 127.0.0.1, localhost or ::1) (got "ftp://x")',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
      'PORT must be a whole number from 0 to 65535 (got "eighty")',
    ]);
  });

  it('accepts unsigned webhooks only when WEBHOOK_ALLOW_UNSIGNED=true is explicit', () => {
    expect(problemsOf({ FUB_API_KEY: 'k', WEBHOOK_ALLOW_UNSIGNED: 'true' })).to.deep.equal([]);
    expect(loadConfig({ FUB_API_KEY: 'k', WEBHOOK_ALLOW_UNSIGNED: 'true' }).fub.systemKey).to.equal(undefined);
  });

  it('requires FUB_SYSTEM alongside FUB_SYSTEM_KEY', () => {
    expect(problemsOf({ FUB_API_KEY: 'k', FUB_SYSTEM_KEY: 's' })).to.deep.equal([
      'FUB_SYSTEM is required when FUB_SYSTEM_KEY is set: the name of your registered FUB system',
    ]);
  });

  it('counts days in BUSINESS_TIMEZONE (UTC unless set) and refuses a zone that is not one', () => {
    expect(loadConfig(VALID).businessTimeZone).to.equal('UTC');
    expect(loadConfig({ ...VALID, BUSINESS_TIMEZONE: 'America/Chicago' }).businessTimeZone).to.equal('America/Chicago');
    expect(problemsOf({ ...VALID, BUSINESS_TIMEZONE: 'Mars/Olympus' })).to.deep.equal([
      'BUSINESS_TIMEZONE must be an IANA time zone name such as "America/New_York" or "UTC" (got "Mars/Olympus")',
    ]);
  });

  it('turns the dashboard on only with DASHBOARD_PASSWORD, and refuses a short one', () => {
    expect(loadConfig(VALID).dashboard).to.deep.equal({ password: undefined, sessionHours: 12 });
    expect(loadConfig({ ...VALID, DASHBOARD_PASSWORD: 'correct horse' }).dashboard.password).to.equal('correct horse');
    expect(problemsOf({ ...VALID, DASHBOARD_PASSWORD: 'short' })).to.deep.equal([
      'DASHBOARD_PASSWORD must be at least 8 characters (or unset to turn the dashboard off)',
    ]);
  });

  it('needs only the database for migrating', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://localhost/x' }, 'database').databaseUrl).to.equal('postgres://localhost/x');
  });

  it('refuses DATABASE_URL set but empty instead of silently using the embedded PostgreSQL', () => {
    for (const value of ['', '  ']) {
      expect(problemsOf({ ...VALID, DATABASE_URL: value })).to.deep.equal([
        'DATABASE_URL is set but empty: give the postgres:// URL of your database, or remove the variable to use the embedded PostgreSQL (local use only)',
      ]);
    }
  });

  it('refuses the embedded PostgreSQL where the service is deployed (its disk is thrown away)', () => {
    expect(problemsOf({ ...VALID, RAILWAY_ENVIRONMENT: 'production' })).to.deep.equal([
      'DATABASE_URL is required where the service is deployed (RAILWAY_ENVIRONMENT is set): the embedded PostgreSQL would keep your data on a disk that is thrown away at the next deploy',
    ]);
    expect(problemsOf({ ...VALID, NODE_ENV: 'production' })).to.deep.equal([
      'DATABASE_URL is required where the service is deployed (NODE_ENV=production): the embedded PostgreSQL would keep your data on a disk that is thrown away at the next deploy',
    ]);
    expect(problemsOf({ ...VALID, NODE_ENV: 'production', DATABASE_URL: 'postgres://db/x' }), 'a real database is fine').to.deep.equal([]);
    expect(problemsOf({ ...VALID, NODE_ENV: 'development' }), 'not deployed').to.deep.equal([]);
    expect(problemsOf({ RAILWAY_ENVIRONMENT: 'production' }, 'database'), 'migrating too').to.have.length(1);
  });

  it('sends the FUB keys only over https, except to this machine', () => {
    expect(problemsOf({ ...VALID, FUB_API_BASE_URL: 'http://api.followupboss.com/v1' })).to.deep.equal([
      'FUB_API_BASE_URL must be a https:// URL (http:// only for 127.0.0.1, localhost or ::1) (got "http://api.followupboss.com/v1")',
    ]);
    for (const local of ['http://127.0.0.1:8080/v1', 'http://localhost:3001/v1', 'http://[::1]:9/v1', 'https://fub.example.com/v1']) {
      expect(problemsOf({ ...VALID, FUB_API_BASE_URL: local }), local).to.deep.equal([]);
    }
  });

  it('reads the retention and the statement deadline, and rejects nonsense', () => {
    const config = loadConfig({ ...VALID, RETENTION_DAYS: '90', DATABASE_STATEMENT_TIMEOUT_SECONDS: '120' });
    expect(config.retentionDays).to.equal(90);
    expect(config.databaseStatementTimeoutMs).to.equal(120_000);
    expect(problemsOf({ ...VALID, RETENTION_DAYS: '0', DATABASE_STATEMENT_TIMEOUT_SECONDS: 'soon' })).to.deep.equal([
      'RETENTION_DAYS must be a whole number from 1 to 36500 (got "0")',
      'DATABASE_STATEMENT_TIMEOUT_SECONDS must be a whole number from 1 to 86400 (got "soon")',
    ]);
  });

  it("reads the processor's own pool size, and rejects nonsense", () => {
    expect(loadConfig(VALID).processingDbConnections).to.equal(4);
    expect(loadConfig({ ...VALID, PROCESSING_DB_CONNECTIONS: '2' }).processingDbConnections).to.equal(2);
    expect(problemsOf({ ...VALID, PROCESSING_DB_CONNECTIONS: '0' })).to.deep.equal(['PROCESSING_DB_CONNECTIONS must be a whole number from 1 to 100 (got "0")']);
  });

  it('reads .env under the real environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fub-env-'));
    writeFileSync(join(dir, '.env'), 'FUB_API_KEY=from-file\nPORT=4000\n');
    const env = readEnv(join(dir, '.env'), { PORT: '5000' });
    expect(env.FUB_API_KEY).to.equal('from-file');
    expect(env.PORT).to.equal('5000');
    expect(readEnv(join(dir, 'missing.env'), { A: '1' })).to.deep.equal({ A: '1' });
  });
});
