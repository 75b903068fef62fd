import { expect } from 'chai';
import { loadConfig } from '../src/shared/config.js';
import { problemsOf } from './support/config-problems.js';

const VALID = { FUB_API_KEY: 'key', FUB_SYSTEM: 'fub-collector', FUB_SYSTEM_KEY: 'secret' };
const MAIL = { SMTP_HOST: 'smtp.example.com', ALERT_EMAIL_FROM: 'collector@example.com', ALERT_EMAIL_TO: 'ops@example.com, boss@example.com' };


describe('configuration: alerts and the business time zone', () => {
  it('alerts are off and days are UTC unless configured', () => {
    const config = loadConfig(VALID);
    expect(config.businessTimeZone).to.equal('UTC');
    expect(config.alerts).to.deep.equal({ webhookUrl: undefined, smtp: undefined, cooldownMs: 60 * 60_000, inboxBacklogMs: 15 * 60_000, dailySummaryAt: undefined });
    expect(Object.isFrozen(config.alerts)).to.equal(true);
  });

  it('reads a chat webhook, SMTP with login, cooldown, backlog age, summary time and zone', () => {
    const config = loadConfig({
      ...VALID,
      ...MAIL,
      ALERT_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/x',
      SMTP_USER: 'apikey',
      SMTP_PASSWORD: 'p@ss',
      ALERT_COOLDOWN_MINUTES: '30',
      ALERT_INBOX_BACKLOG_MINUTES: '5',
      DAILY_SUMMARY_AT: '08:00',
      BUSINESS_TIMEZONE: 'America/New_York',
    });
    expect(config.businessTimeZone).to.equal('America/New_York');
    expect(config.alerts).to.deep.equal({
      webhookUrl: 'https://hooks.slack.com/services/T/B/x',
      smtp: { host: 'smtp.example.com', port: 587, secure: false, user: 'apikey', password: 'p@ss', from: 'collector@example.com', to: ['ops@example.com', 'boss@example.com'] },
      cooldownMs: 30 * 60_000,
      inboxBacklogMs: 5 * 60_000,
      dailySummaryAt: '08:00',
    });
    expect(loadConfig({ ...VALID, ...MAIL, SMTP_SECURE: 'true' }).alerts.smtp).to.include({ port: 465, secure: true });
  });

  it('names every malformed alert variable at once', () => {
    expect(
      problemsOf({
        ...VALID,
        ALERT_WEBHOOK_URL: 'hooks.slack.com/x',
        SMTP_PORT: '99999',
        SMTP_USER: 'only-user',
        ALERT_EMAIL_TO: 'ops@example.com, not-an-address',
        ALERT_COOLDOWN_MINUTES: 'soon',
        DAILY_SUMMARY_AT: '8am',
        BUSINESS_TIMEZONE: 'Mars/Olympus',
      }),
    ).to.deep.equal([
      'BUSINESS_TIMEZONE must be an IANA time zone name such as "America/New_York" or "UTC" (got "Mars/Olympus")',
      'ALERT_WEBHOOK_URL must be a https:// or http:// URL (got "hooks.slack.com/x")',
      'SMTP_PORT must be a whole number from 1 to 65535 (got "99999")',
      'Alert mail needs SMTP_HOST, ALERT_EMAIL_FROM (set all of SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO, or none of the SMTP_*/ALERT_EMAIL_* variables)',
      'SMTP_USER and SMTP_PASSWORD go together: set both, or neither for a server without login',
      'ALERT_EMAIL_TO must be email addresses separated by commas (not "not-an-address")',
      'DAILY_SUMMARY_AT must be a time of day HH:MM from 00:00 to 23:59 (got "8am")',
      'ALERT_COOLDOWN_MINUTES must be a whole number from 0 to 10080 (got "soon")',
    ]);
  });

  it('refuses a daily summary with nowhere to send it', () => {
    expect(problemsOf({ ...VALID, DAILY_SUMMARY_AT: '08:00' })).to.deep.equal([
      'DAILY_SUMMARY_AT needs somewhere to send the summary: set ALERT_WEBHOOK_URL or SMTP_HOST (with ALERT_EMAIL_FROM, ALERT_EMAIL_TO)',
    ]);
  });
});
