import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import Router from '@koa/router';
import type Koa from 'koa';
import getRawBody from 'raw-body';
import type { Db } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import { createDashboardAuth } from './dashboard-auth.js';
import { DashboardInputError, loadTable, TABLE_NAMES } from './dashboard-tables.js';
import { LoginThrottle } from './login-throttle.js';
import { toCsv } from './to-csv.js';

export interface DashboardOptions {
  db: Db;
  log: Logger;
  password: string;
  sessionHours: number;
  timeZone: string;
  /** Tests shorten the wait after a wrong password. */
  throttle?: LoginThrottle;
}

// Two levels up from both src/dashboard and dist/dashboard is the project root.
const PUBLIC_DIR = fileURLToPath(new URL('../../public/dashboard/', import.meta.url));
const CHART_JS = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
const COOKIE = 'fub_dashboard';
// Only the app's own files run or style the page: a lead's name can never become markup or script.
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

function asset(path: string, type: string): Asset {
  const body = readFileSync(path);
  return { type, body, gzip: gzipSync(body) };
}

/**
 * The dashboard under /dashboard: a login, then the page and its JSON/CSV API. Mounted only when
 * DASHBOARD_PASSWORD is set; without a session nothing but the login page and static files answers.
 */
export function createDashboardRouter(options: DashboardOptions): Router {
  const { db, timeZone } = options;
  const log = options.log.child({ component: 'dashboard' });
  const auth = createDashboardAuth(options.password, options.sessionHours * 3_600_000);
  const throttle = options.throttle ?? new LoginThrottle();
  const assets: Record<string, Asset> = {
    'app.js': asset(join(PUBLIC_DIR, 'app.js'), 'text/javascript; charset=utf-8'),
    'style.css': asset(join(PUBLIC_DIR, 'style.css'), 'text/css; charset=utf-8'),
    'chart.umd.min.js': asset(CHART_JS, 'text/javascript; charset=utf-8'),
  };
  const indexPage = readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8');
  const loginPage = readFileSync(join(PUBLIC_DIR, 'login.html'), 'utf8');
  const router = new Router({ prefix: '/dashboard' });

  const signedIn = (ctx: Koa.Context): boolean => auth.isSession(ctx.cookies.get(COOKIE), Date.now());
  const page = (ctx: Koa.Context, status: number, html: string): void => {
    ctx.status = status;
    ctx.set(SECURITY_HEADERS);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = html;
  };
  const login = (ctx: Koa.Context, status: number, message = ''): void =>
    page(ctx, status, loginPage.replace('<!--message-->', message === '' ? '' : `<p class="error" role="alert">${message}</p>`));

  router.get('/', (ctx) => (signedIn(ctx) ? page(ctx, 200, indexPage) : login(ctx, 200)));

  router.post('/login', async (ctx) => {
    const form = await getRawBody(ctx.req, { limit: 4096, encoding: 'utf8' }).catch(() => undefined);
    if (form === undefined) {
      login(ctx, 400, 'That form could not be read.');
      return;
    }
    // Asked only now, with no await between it and the failure it may record: guesses whose bodies
    // arrive together are checked one at a time, so the first wrong one makes the rest wait.
    const now = Date.now();
    const wait = throttle.waitFor(ctx.ip, now);
    if (wait > 0) {
      ctx.set('Retry-After', String(Math.ceil(wait / 1000)));
      login(ctx, 429, `Too many wrong passwords: try again in ${Math.ceil(wait / 1000)} s.`);
      return;
    }
    const password = new URLSearchParams(form).get('password') ?? '';
    if (!auth.isPassword(password)) {
      throttle.failed(ctx.ip, now);
      log.warn({ ip: ctx.ip }, 'dashboard login refused: wrong password');
      login(ctx, 401, 'Wrong password.');
      return;
    }
    throttle.succeeded(ctx.ip);
    const session = auth.issueSession(now);
    ctx.cookies.set(COOKIE, session.value, { httpOnly: true, sameSite: 'strict', path: '/dashboard', expires: session.expires, secure: ctx.secure, overwrite: true });
    ctx.redirect('/dashboard');
    ctx.status = 303;
  });

  router.post('/logout', (ctx) => {
    ctx.cookies.set(COOKIE, '', { httpOnly: true, sameSite: 'strict', path: '/dashboard', expires: new Date(0), secure: ctx.secure, overwrite: true });
    ctx.redirect('/dashboard');
    ctx.status = 303;
  });

  router.get('/assets/:file', (ctx) => {
    const file = assets[ctx.params.file ?? ''];
    if (file === undefined) return;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.set('Vary', 'Accept-Encoding');
    ctx.type = file.type;
    if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = file.gzip;
    } else {
      ctx.body = file.body;
    }
  });

  router.get('/api/:table', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (!signedIn(ctx)) {
      ctx.status = 401;
      ctx.body = { ok: false, error: 'sign in first' };
      return;
    }
    const requested = ctx.params.table ?? '';
    const csv = requested.endsWith('.csv');
    const name = csv ? requested.slice(0, -4) : requested;
    if (!TABLE_NAMES.includes(name)) return;
    try {
      const table = await loadTable(db, name, new URLSearchParams(ctx.querystring), timeZone);
      if (csv) {
        ctx.type = 'text/csv; charset=utf-8';
        ctx.attachment(`${name}.csv`);
        ctx.body = toCsv(table.columns, table.rows);
      } else {
        ctx.body = table;
      }
    } catch (error) {
      if (!(error instanceof DashboardInputError)) throw error;
      ctx.status = 400;
      ctx.body = { ok: false, error: error.message };
    }
  });

  return router;
}
