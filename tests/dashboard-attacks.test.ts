import { createHash, createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'chai';
import request from 'supertest';
import { createWebhookApp } from '../src/webhook/app.js';
import { createDashboardAuth } from '../src/dashboard/dashboard-auth.js';
import { LoginThrottle } from '../src/dashboard/login-throttle.js';
import { testLogger } from './support/harness.js';
import { openRawRequest } from './support/raw-http.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// An attacker's and a careless operator's view of the dashboard: what answers without a session,
// how guessing is slowed, what odd parameters do.
const PASSWORD = 'correct horse battery';

describe('dashboard under attack', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(() => tdb.destroy());

  const app = (throttle = new LoginThrottle({ baseDelayMs: 60_000, maxDelayMs: 60_000, forgetAfterMs: 600_000, maxTracked: 100 })) =>
    createWebhookApp({ db: tdb.db, log: testLogger(), systemKey: 'k'.repeat(32), dashboard: { password: PASSWORD, sessionHours: 1, timeZone: 'UTC', throttle } });

  async function signIn(callback: ReturnType<ReturnType<typeof app>['callback']>): Promise<string> {
    const res = await request(callback).post('/dashboard/login').type('form').send({ password: PASSWORD });
    expect(res.status).to.equal(303);
    return String(res.headers['set-cookie']![0]).split(';')[0]!;
  }

  it('guesses sent in parallel are checked one at a time: after the first wrong one, the rest wait', async () => {
    const server: Server = app().listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      // Each guess's head first, its body only once every head is in: no body has been read when the
      // next head arrives, the way a client that sends them over many connections would.
      const guesses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const body = `password=guess${String(i).padStart(2, '0')}xxxxxx`;
          return openRawRequest(port, ['POST /dashboard/login HTTP/1.1', 'Host: x', 'Content-Type: application/x-www-form-urlencoded', `Content-Length: ${body.length}`, 'Connection: close']).then(
            (raw) => ({ raw, body }),
          );
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const { raw, body } of guesses) raw.write(body);
      const statuses = await Promise.all(guesses.map(({ raw }) => raw.status(5000)));
      guesses.forEach(({ raw }) => raw.destroy());
      expect(statuses.filter((s) => s === 401), 'passwords actually checked').to.have.length(1);
      expect(statuses.filter((s) => s === 429)).to.have.length(19);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('no path, method or encoding trick reaches a table without a session', async () => {
    const callback = app().callback();
    const paths = [
      '/dashboard/api/recent_moves',
      '/dashboard/api/recent_moves.csv',
      '/dashboard/api/recent_moves/',
      '/DASHBOARD/API/recent_moves',
      '//dashboard/api/recent_moves',
      '/dashboard//api/recent_moves',
      '/dashboard/api/recent%5Fmoves',
      '/dashboard/api/recent_moves%2Ecsv',
      '/dashboard/./api/recent_moves',
      '/x/../dashboard/api/recent_moves',
      '/dashboard/assets/..%2f..%2f.env',
      '/dashboard/assets/..%2fapi%2frecent_moves',
      '/dashboard/assets/%2e%2e/%2e%2e/package.json',
    ];
    for (const path of paths) {
      for (const method of ['get', 'head', 'options'] as const) {
        const res = await request(callback)[method](path);
        // OPTIONS only lists the methods (the router's allowedMethods), with no body.
        expect(res.status, `${method} ${path}`).to.be.oneOf(method === 'options' ? [200, 404, 405] : [401, 404, 405]);
        expect(res.text ?? '', `${method} ${path}`).not.to.match(/First|Last|changed_at|DATABASE|"rows"/);
      }
    }
  });

  it('a conversion from a stage to itself is a 400, not 100%', async () => {
    const callback = app().callback();
    const cookie = await signIn(callback);
    const same = await request(callback).get('/dashboard/api/conversion?a=3&b=3').set('Cookie', cookie);
    expect([same.status, same.body]).to.deep.equal([400, { ok: false, error: 'a and b: choose two different stages' }]);
    expect((await request(callback).get('/dashboard/api/conversion?a=2&b=3').set('Cookie', cookie)).status).to.equal(200);
  });

  it('a day the database cannot hold is a 400, not a 500', async () => {
    const callback = app().callback();
    const cookie = await signIn(callback);
    for (const query of ['from=0000-01-01&to=0001-01-01', 'from=9999-12-30&to=9999-12-31']) {
      const res = await request(callback).get(`/dashboard/api/pipeline?${query}`).set('Cookie', cookie);
      expect(res.status, query).to.be.oneOf([200, 400]);
    }
  });

  it('a session cookie does not confirm a password guess with one fast hash (offline guessing)', () => {
    // Whoever holds a cookie (a stolen one, one in a proxy's log) knows `expiry` and its MAC. With the
    // key one SHA-256 of the password, each guess costs two hashes: a GPU tries billions a second,
    // and the password found outlives the cookie.
    const { value } = createDashboardAuth(PASSWORD, 3_600_000).issueSession(Date.now());
    const [expiry, mac] = value.split('.') as [string, string];
    const sha = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
    const cheapKeys = [sha(`fub-collector dashboard session\0${PASSWORD}`), sha(PASSWORD), Buffer.from(PASSWORD)];
    for (const key of cheapKeys) {
      expect(createHmac('sha256', key).update(`session.${expiry}`).digest('base64url')).not.to.equal(mac);
    }
  });
});
