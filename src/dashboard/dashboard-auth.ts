import { createHash, createHmac, scryptSync, timingSafeEqual } from 'node:crypto';

/**
 * The dashboard's one password and its sessions. A session is a cookie `<expiry ms>.<HMAC>` signed
 * with a key derived from the password: every replica accepts it, a restart keeps it, and changing
 * the password ends every session. The key is the password through scrypt, not a fast hash: a cookie
 * (stolen, or left in a log) holds a MAC anyone can test password guesses against offline, and each
 * guess must cost tens of milliseconds, not nanoseconds.
 */
export interface DashboardAuth {
  /** Constant-time: the time taken says nothing about how much of the guess was right. */
  isPassword(given: string): boolean;
  issueSession(now: number): { value: string; expires: Date };
  isSession(value: string | undefined, now: number): boolean;
}

export function createDashboardAuth(password: string, sessionMs: number): DashboardAuth {
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
  const expected = digest(password);
  const key = scryptSync(password, 'fub-collector dashboard session', 32, { N: 2 ** 14, r: 8, p: 1 });
  const sign = (expiry: string): Buffer => createHmac('sha256', key).update(`session.${expiry}`).digest();
  return {
    isPassword: (given) => timingSafeEqual(digest(given), expected),
    issueSession(now) {
      const expiry = String(now + sessionMs);
      return { value: `${expiry}.${sign(expiry).toString('base64url')}`, expires: new Date(now + sessionMs) };
    },
    isSession(value, now) {
      const match = value === undefined ? null : /^(\d{1,16})\.([\w-]{43})$/.exec(value);
      if (!match) return false;
      const given = Buffer.from(match[2]!, 'base64url');
      return given.length === 32 && timingSafeEqual(given, sign(match[1]!)) && Number(match[1]) > now;
    },
  };
}
