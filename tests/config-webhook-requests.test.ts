import { expect } from 'chai';
import { loadConfig } from '../src/shared/config.js';
import { problemsOf } from './support/config-problems.js';

const VALID = { FUB_API_KEY: 'key', FUB_SYSTEM: 'fub-collector', FUB_SYSTEM_KEY: 'secret' };


describe('configuration: webhook request limits and TRUST_PROXY', () => {
  it('bounds body reading by default: 10 s per body, 128 bodies at once', () => {
    expect(loadConfig(VALID).webhookRequests).to.include({ bodyTimeoutMs: 10_000, maxBodiesInFlight: 128 });
    expect(loadConfig({ ...VALID, WEBHOOK_BODY_TIMEOUT_MS: '2500', WEBHOOK_MAX_BODIES_IN_FLIGHT: '16' }).webhookRequests).to.include({
      bodyTimeoutMs: 2500,
      maxBodiesInFlight: 16,
    });
  });

  it('trusts X-Forwarded-For by default only on Railway', () => {
    expect(loadConfig(VALID).webhookRequests.trustProxy).to.equal(false);
    expect(loadConfig({ ...VALID, DATABASE_URL: 'postgres://app@db.internal/app', RAILWAY_ENVIRONMENT: 'production' }).webhookRequests.trustProxy).to.equal(true);
    expect(loadConfig({ ...VALID, RAILWAY_ENVIRONMENT: '' }).webhookRequests.trustProxy).to.equal(false);
  });

  it('lets TRUST_PROXY override either way', () => {
    expect(loadConfig({ ...VALID, TRUST_PROXY: 'true' }).webhookRequests.trustProxy).to.equal(true);
    expect(loadConfig({ ...VALID, DATABASE_URL: 'postgres://app@db.internal/app', RAILWAY_ENVIRONMENT: 'production', TRUST_PROXY: 'false' }).webhookRequests.trustProxy).to.equal(false);
  });

  it('names malformed values', () => {
    expect(problemsOf({ ...VALID, TRUST_PROXY: 'yes', WEBHOOK_BODY_TIMEOUT_MS: '10s', WEBHOOK_MAX_BODIES_IN_FLIGHT: '0' })).to.deep.equal([
      'WEBHOOK_BODY_TIMEOUT_MS must be a whole number from 100 to 600000 (got "10s")',
      'WEBHOOK_MAX_BODIES_IN_FLIGHT must be a whole number from 1 to 100000 (got "0")',
      'TRUST_PROXY must be "true" or "false" (got "yes")',
    ]);
  });
});
