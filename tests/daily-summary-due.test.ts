import { expect } from 'chai';
import { summaryDueFor } from '../src/alerts/daily-summary.js';

// Which day's summary is due at a moment: checked once a minute (or less often, when a check runs
// long or the server restarts), so a due time late in the evening must not depend on one check.
describe('daily summary: which day is due', () => {
  const ny = (iso: string): Date => new Date(iso);

  it('yesterday once the time has passed today, nothing before it on a fresh start', () => {
    expect(summaryDueFor(ny('2026-06-10T11:59:00Z'), '08:00', 'America/New_York')).to.equal(undefined); // 07:59 EDT
    expect(summaryDueFor(ny('2026-06-10T12:00:00Z'), '08:00', 'America/New_York')).to.equal('2026-06-09');
    expect(summaryDueFor(ny('2026-06-10T19:00:00Z'), '08:00', 'America/New_York')).to.equal('2026-06-09');
  });

  it('a summary due at 23:59 whose one check of that minute was missed is sent just after midnight, not never', () => {
    expect(summaryDueFor(ny('2026-06-10T03:58:30Z'), '23:59', 'America/New_York')).to.equal(undefined); // 23:58 on the 9th
    // 00:00:30 on the 10th: the check at 23:59 on the 9th did not happen (a deploy, a long check).
    expect(summaryDueFor(ny('2026-06-10T04:00:30Z'), '23:59', 'America/New_York')).to.equal('2026-06-08');
    // The next evening the 9th is due, as before.
    expect(summaryDueFor(ny('2026-06-11T03:59:10Z'), '23:59', 'America/New_York')).to.equal('2026-06-09');
  });

  it('around DST changes the time is reached once a day (the claim per day keeps a repeated hour to one)', () => {
    // Spring forward 2026-03-08: 02:30 never shows on the clock; 03:00 is past it.
    expect(summaryDueFor(ny('2026-03-08T06:59:00Z'), '02:30', 'America/New_York')).to.equal(undefined); // 01:59 EST
    expect(summaryDueFor(ny('2026-03-08T07:00:00Z'), '02:30', 'America/New_York')).to.equal('2026-03-07'); // 03:00 EDT
    // Fall back 2026-11-01: 01:30 comes twice, both times for the same day.
    expect(summaryDueFor(ny('2026-11-01T05:30:00Z'), '01:30', 'America/New_York')).to.equal('2026-10-31');
    expect(summaryDueFor(ny('2026-11-01T06:30:00Z'), '01:30', 'America/New_York')).to.equal('2026-10-31');
  });
});
