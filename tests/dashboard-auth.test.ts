import { expect } from 'chai';
import { createDashboardAuth } from '../src/dashboard/dashboard-auth.js';
import { LoginThrottle } from '../src/dashboard/login-throttle.js';
import { toCsv } from '../src/dashboard/to-csv.js';

describe('dashboard access', () => {
  const HOUR = 3_600_000;
  const auth = createDashboardAuth('correct horse battery', HOUR);

  it('accepts only the password', () => {
    expect(auth.isPassword('correct horse battery')).to.equal(true);
    for (const wrong of ['', 'correct horse batter', 'correct horse battery ', 'CORRECT HORSE BATTERY']) expect(auth.isPassword(wrong), wrong).to.equal(false);
  });

  it('a session expires, and cannot be forged, extended or carried to another password', () => {
    const t = Date.parse('2026-11-01T00:00:00Z');
    const { value, expires } = auth.issueSession(t);
    expect(expires.getTime()).to.equal(t + HOUR);
    expect(auth.isSession(value, t + HOUR - 1)).to.equal(true);
    expect(auth.isSession(value, t + HOUR)).to.equal(false);
    const [expiry, mac] = value.split('.');
    expect(auth.isSession(`${Number(expiry) + HOUR}.${mac}`, t)).to.equal(false);
    expect(auth.isSession(`${expiry}.${'A'.repeat(43)}`, t)).to.equal(false);
    expect(auth.isSession(undefined, t)).to.equal(false);
    expect(auth.isSession('garbage', t)).to.equal(false);
    expect(createDashboardAuth('another password!', HOUR).isSession(value, t)).to.equal(false);
  });

  it('each failed login from an address doubles the wait before its next attempt is checked', () => {
    const throttle = new LoginThrottle({ baseDelayMs: 1000, maxDelayMs: 4000, forgetAfterMs: 60_000, maxTracked: 2 });
    expect(throttle.waitFor('a', 0)).to.equal(0);
    throttle.failed('a', 0);
    expect(throttle.waitFor('a', 0)).to.equal(1000);
    expect(throttle.waitFor('b', 0)).to.equal(0);
    throttle.failed('a', 1000);
    expect(throttle.waitFor('a', 1000)).to.equal(2000);
    throttle.failed('a', 3000);
    throttle.failed('a', 7000);
    expect(throttle.waitFor('a', 7000)).to.equal(4000);
    throttle.succeeded('a');
    expect(throttle.waitFor('a', 7000)).to.equal(0);
    // Bounded memory: a flood of addresses pushes the oldest out.
    for (const ip of ['x', 'y', 'z']) throttle.failed(ip, 8000);
    expect(['x', 'y', 'z'].filter((ip) => throttle.waitFor(ip, 8000) > 0)).to.have.length(2);
  });

  it('CSV: quotes what needs it, and a name cannot become a spreadsheet formula', () => {
    expect(toCsv(['a', 'b'], [{ a: 'x,y', b: 'say "hi"' }, { a: '=HYPERLINK("evil")', b: -3 }, { a: null, b: 'two\nlines' }])).to.equal(
      'a,b\r\n"x,y","say ""hi"""\r\n"\'=HYPERLINK(""evil"")",-3\r\n,"two\nlines"\r\n',
    );
  });
});
