/// <reference lib="dom" />
// Functions passed to page.evaluate run in the page: DOM types for them.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import request from 'supertest';
import { runMonitoringQuery, type MonitoringOptions } from '../src/shared/monitoring.js';
import { dayIn } from '../src/dashboard/dashboard-tables.js';
import { createWebhookApp } from '../src/webhook/app.js';
import { fillPipeline, PASSWORD, startDashboardServer, TIME_ZONE, type DashboardServer } from './support/dashboard-fixture.js';
import { createHarness, type Harness } from './support/harness.js';
import { sleep } from './support/wait.js';

// The dashboard as a person uses it: Debian's chromium, headless, on a pipeline the FUB simulator
// played through the real webhook server and poller. Values are checked against the SQL files.
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.DASHBOARD_SCREENSHOTS; // a folder: save each view there (docs/ for the README)

describe('dashboard in a real browser', function () {
  this.timeout(120_000);
  let h: Harness;
  let dash: DashboardServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    h = await createHarness();
    dash = await startDashboardServer(h, 1500);
    h.processor.start();
    await fillPipeline(h, dash.url);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await dash?.close();
    await h?.close();
  });

  const sqlRows = <T = Record<string, unknown>>(name: Parameters<typeof runMonitoringQuery>[1], params: MonitoringOptions['params']) =>
    runMonitoringQuery<T>(h.tdb.db, name, { timeZone: TIME_ZONE, params });
  const today = () => dayIn(new Date(), TIME_ZONE);
  const daysAgo = (n: number) => new Date(Date.parse(today()) - n * 86_400_000).toISOString().slice(0, 10);

  async function open(hash: string): Promise<void> {
    await rendered(() => page.goto(`${dash.url}/dashboard#${hash}`));
  }
  /**
   * Runs an action that makes the view render again, and waits for that render to finish: the view
   * still shows the previous one ('ready') until the app has heard of the change.
   */
  async function rendered(action: () => Promise<unknown>): Promise<void> {
    const before = (await page.$('#view')) ? await page.getAttribute('#view', 'data-render') : null;
    await action();
    await page.waitForFunction((previous) => {
      const view = document.getElementById('view');
      return view !== null && view.dataset.render !== undefined && view.dataset.render !== previous && view.dataset.state !== 'loading';
    }, before);
    expect(await page.getAttribute('#view', 'data-state')).to.equal('ready');
  }
  async function shot(name: string): Promise<void> {
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/dashboard-${name}.png`, fullPage: true });
  }
  /** The table as shown: header texts and cell texts. */
  const shownTable = (table: string) =>
    page.$eval(`section[data-table="${table}"] table`, (t) => ({
      head: [...t.querySelectorAll('thead th')].map((th) => th.textContent),
      rows: [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    }));
  /** What the chart drew: its x labels and, per series, each bar's value. */
  const drawn = () =>
    page.evaluate(() => {
      const chart = (window as unknown as { Chart: { getChart(c: unknown): { data: { labels: string[]; datasets: { label: string; data: number[] }[] }; getDatasetMeta(i: number): { data: unknown[] } } } }).Chart.getChart(
        document.getElementById('chart'),
      )!;
      return {
        labels: chart.data.labels,
        series: chart.data.datasets.map((d, i) => ({ label: d.label, data: d.data, bars: chart.getDatasetMeta(i).data.length })),
      };
    });
  /** Downloads the table's CSV with the page's session and parses it. */
  async function csvOf(table: string): Promise<string[][]> {
    const href = await page.getAttribute(`section[data-table="${table}"] a.csv`, 'href');
    const text = await page.evaluate(async (u) => (await fetch(u!)).text(), href);
    return parseCsv(text);
  }

  it('is 404 without DASHBOARD_PASSWORD, and the webhook route is as it was', async () => {
    const app = createWebhookApp({ db: h.tdb.db, log: h.log, systemKey: h.sim.systemKey });
    for (const path of ['/dashboard', '/dashboard/', '/dashboard/api/recent_moves', '/dashboard/assets/app.js']) {
      expect((await request(app.callback()).get(path)).status, path).to.equal(404);
    }
    expect((await request(app.callback()).post('/dashboard/login').send('password=x')).status).to.equal(404);
    expect((await h.deliver(h.sim.touchPerson(1))).status).to.equal(200);
  });

  it('refuses a wrong password, slows the next attempt, and gives no lead names without a session', async () => {
    const api = await fetch(`${dash.url}/dashboard/api/recent_moves`);
    expect(api.status).to.equal(401);
    expect(await api.text()).not.to.match(/Maria|Lead\d/);
    expect((await fetch(`${dash.url}/dashboard/api/recent_moves.csv`)).status).to.equal(401);
    expect((await fetch(`${dash.url}/dashboard/api/recent_moves`, { headers: { Cookie: `fub_dashboard=${Date.now() + 3_600_000}.${'A'.repeat(43)}` } })).status).to.equal(401);

    await page.goto(`${dash.url}/dashboard`);
    await page.fill('#password', 'wrong password');
    const refused = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(refused[0]?.status()).to.equal(401);
    expect(await page.textContent('.error')).to.equal('Wrong password.');
    // At once again, even with the right password: refused unchecked until the delay has passed.
    await page.fill('#password', PASSWORD);
    const slowed = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(slowed[0]?.status()).to.equal(429);
    expect(await page.textContent('.error')).to.match(/^Too many wrong passwords/);
    expect(await context.cookies()).to.deep.equal([]);
    await shot('login');
  });

  it('signs in with the password: an HttpOnly, SameSite session cookie that expires', async () => {
    await sleep(1600);
    await page.goto(`${dash.url}/dashboard`);
    await page.fill('#password', PASSWORD);
    await rendered(() => Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]));
    const [cookie] = await context.cookies();
    expect(cookie).to.include({ name: 'fub_dashboard', httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
    expect(cookie!.expires * 1000).to.be.within(Date.now() + 3_500_000, Date.now() + 3_700_000);
    // The same signature with an expiry in the past is no session.
    const [expiry] = cookie!.value.split('.');
    expect(Number(expiry)).to.be.greaterThan(Date.now());
  });

  it('pipeline: one bar per stage and day with arrivals, values as the SQL says; ranges, weeks and the stage filter change them', async () => {
    await open('pipeline');
    await shot('pipeline');
    const check = async (params: Record<string, string>, labels: number) => {
      const expected = await sqlRows<{ day: Date; stage: string; changes: number }>('stage_changes_per_day', { ...params, bucket: params.bucket ?? 'day', group_by: 'none' });
      const chart = await drawn();
      expect(chart.labels).to.have.length(labels);
      const bars = chart.series.flatMap((s) => s.data.map((v, i) => [chart.labels[i], s.label, v] as const)).filter(([, , v]) => v > 0);
      expect(bars.map(([d, s, v]) => `${d} ${s} ${v}`).sort()).to.deep.equal(expected.map((r) => `${isoDay(r.day)} ${r.stage} ${r.changes}`).sort());
      const table = await shownTable('pipeline');
      expect(table.rows.map((r) => `${r[0]} ${r[1]} ${r[2]}`)).to.deep.equal(expected.map((r) => `${isoDay(r.day)} ${r.stage} ${r.changes}`));
      return expected;
    };
    const month = await check({ from: daysAgo(29), to: today() }, 30);
    expect(month.length).to.be.greaterThan(5);
    // Every arrival of the pipeline (it spans 40 days) and no first sighting: the lead the poll
    // found already qualified is not an arrival.
    await rendered(() => page.selectOption('#range', '365'));
    const year = await check({ from: daysAgo(364), to: today() }, 365);
    const counts = await h.tdb.db.selectFrom('stage_changes').select(['kind', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('kind').execute();
    const count = (kind: string) => Number(counts.find((c) => c.kind === kind)?.n ?? 0);
    expect(count('first_seen')).to.be.greaterThan(0);
    expect(year.reduce((n, r) => n + r.changes, 0)).to.equal(count('move') + count('created'));

    await rendered(() => page.selectOption('#range', '7'));
    const week = await check({ from: daysAgo(6), to: today() }, 7);
    expect(week.length).to.be.lessThan(month.length);

    await rendered(() => page.selectOption('#range', '90'));
    await rendered(() => page.selectOption('#bucket', 'week'));
    const weeks = await check({ from: daysAgo(89), to: today(), bucket: 'week' }, (await drawn()).labels.length);
    expect((await drawn()).labels.length).to.be.within(13, 14);
    expect(weeks.every((r) => r.day.getDay() === 1)).to.equal(true);

    await rendered(() => page.check('#stage-filter label:has-text("ACQ - Offers Made") input'));
    const keys = await sqlRows<{ stage_key: string; name: string }>('stages', {});
    const offers = keys.find((s) => s.name === 'ACQ - Offers Made')!.stage_key;
    const only = await check({ from: daysAgo(89), to: today(), bucket: 'week', stages: offers }, (await drawn()).labels.length);
    expect(new Set(only.map((r) => r.stage))).to.deep.equal(new Set(['ACQ - Offers Made']));
    expect((await drawn()).series.map((s) => s.label)).to.deep.equal(['ACQ - Offers Made']);

    // A custom range.
    await open(`pipeline?from=${daysAgo(20)}&to=${daysAgo(10)}`);
    await check({ from: daysAgo(20), to: daysAgo(10) }, 11);
    const csv = await csvOf('pipeline');
    const expected = await sqlRows<{ day: Date; stage: string; changes: number }>('stage_changes_per_day', { from: daysAgo(20), to: daysAgo(10), bucket: 'day', group_by: 'none' });
    expect(csv[0]!.slice(0, 3)).to.deep.equal(['day', 'stage', 'changes']);
    expect(csv.slice(1).map((r) => `${r[0]} ${r[1]} ${r[2]}`)).to.deep.equal(expected.map((r) => `${isoDay(r.day)} ${r.stage} ${r.changes}`));
  });

  it('conversion: the counts, median and p90 of the SQL, for the default stages and others', async () => {
    await open('conversion?days=90');
    await shot('conversion');
    const [expected] = await sqlRows<Record<string, number | string | null>>('conversion', { from: daysAgo(89), to: today() });
    expect(expected!.reached_a).to.be.greaterThan(10);
    const table = await shownTable('conversion');
    expect(table.rows).to.deep.equal([[expected!.stage_a, expected!.stage_b, expected!.reached_a, expected!.reached_b, expected!.percent, expected!.median_hours, expected!.p90_hours].map((v) => (v === null ? '' : String(v)))]);
    expect(await page.textContent('#conversion-cards')).to.contain(`${expected!.percent} %`);
    const keys = await sqlRows<{ stage_key: string; name: string }>('stages', {});
    await rendered(() => page.selectOption('#stage-b', keys.find((s) => s.name === 'ACQ - Offer Not Accepted')!.stage_key));
    const [other] = await sqlRows<Record<string, number>>('conversion', { from: daysAgo(89), to: today(), stage_b: 'ACQ - Offer Not Accepted' });
    expect((await shownTable('conversion')).rows[0]!.slice(2, 4)).to.deep.equal([String(other!.reached_a), String(other!.reached_b)]);
    expect(other!.reached_b).to.be.lessThan(expected!.reached_b as number);
    const csv = await csvOf('conversion');
    expect(csv[1]!.slice(2, 4)).to.deep.equal([String(other!.reached_a), String(other!.reached_b)]);
  });

  it('time in stage: median and p90 per stage as the SQL says', async () => {
    await open('time_in_stage?days=90');
    await shot('time-in-stage');
    const expected = await sqlRows<Record<string, number | string | null>>('time_in_stage', { from: daysAgo(89), to: today() });
    const table = await shownTable('time_in_stage');
    expect(table.rows).to.deep.equal(expected.map((r) => ['stage', 'completed_stays', 'median_hours', 'p90_hours', 'avg_hours', 'in_stage_now'].map((c) => (r[c] === null ? '' : String(r[c])))));
    const chart = await drawn();
    expect(chart.series.map((s) => s.label)).to.deep.equal(['median hours', 'p90 hours']);
    expect(chart.series[0]!.data).to.deep.equal(expected.filter((r) => r.median_hours !== null).map((r) => r.median_hours));
    expect((await csvOf('time_in_stage')).length).to.equal(expected.length + 1);
  });

  it('recent moves: name, from → to, when, source, agent, lead source; search and paging', async () => {
    await open('recent_moves');
    await shot('recent-moves');
    const expected = await sqlRows<Record<string, unknown>>('recent_moves', { limit: '50' });
    const table = await shownTable('recent_moves');
    expect(table.head.slice(0, 7)).to.deep.equal(['when', 'name', 'stage from', 'stage to', 'recorded by', 'agent', 'lead source']);
    expect(table.rows).to.have.length(50);
    expect(table.rows.map((r) => r[1])).to.deep.equal(expected.map((r) => r.name));
    expect(table.rows[0]!.slice(4, 7)).to.deep.equal([expected[0]!.recorded_by, expected[0]!.agent, expected[0]!.lead_source]);
    expect(new Set(table.rows.map((r) => r[6]))).to.deep.equal(new Set(['Zillow', 'Referral', 'Website']));
    // Times are the business zone's wall clock.
    const first = expected[0]!.changed_at as Date;
    expect(table.rows[0]![0]).to.equal(new Intl.DateTimeFormat('sv-SE', { timeZone: TIME_ZONE, dateStyle: 'short', timeStyle: 'medium' }).format(first));

    await rendered(() => page.click('#next'));
    expect(await page.textContent('#page')).to.equal('Page 2');
    const second = await sqlRows<{ name: string }>('recent_moves', { limit: '50', offset: '50' });
    expect((await shownTable('recent_moves')).rows.map((r) => r[1])).to.deep.equal(second.map((r) => r.name));

    await page.fill('#search', 'lead12');
    await rendered(() => page.click('#controls button[type=submit]'));
    const found = await sqlRows<{ name: string }>('recent_moves', { search: 'lead12' });
    expect(found.length).to.be.greaterThan(0);
    expect((await shownTable('recent_moves')).rows.map((r) => r[1])).to.deep.equal(found.map((r) => r.name));
    const csv = await csvOf('recent_moves');
    expect(csv.slice(1).map((r) => r[1])).to.deep.equal(found.map((r) => r.name));
  });

  for (const [view, group, column] of [
    ['by_agent', 'agent', 'assigned_user_name'],
    ['by_lead_source', 'lead_source', 'lead_source'],
  ] as const) {
    it(`${view.replaceAll('_', ' ')}: arrivals per stage per week for each`, async () => {
      await open(`${view}?days=90`);
      await shot(view.replaceAll('_', '-'));
      const expected = await sqlRows<{ day: Date; grp: string; stage: string; changes: number }>('stage_changes_per_day', { from: daysAgo(89), to: today(), bucket: 'week', group_by: group });
      const table = await shownTable(view);
      expect(table.rows.map((r) => r.slice(0, 4).join('|'))).to.deep.equal(expected.map((r) => [isoDay(r.day), r.grp, r.stage, r.changes].join('|')));
      const groups = new Set(expected.map((r) => r.grp));
      expect(groups.size).to.be.greaterThan(1);
      const chart = await drawn();
      expect(new Set(chart.series.map((s) => s.label))).to.deep.equal(groups);
      const total = (await h.tdb.db.selectFrom('stage_changes').select((eb) => eb.fn.countAll<number>().as('n')).where('kind', '<>', 'first_seen').where(column, 'is not', null).executeTakeFirstOrThrow()).n;
      expect(chart.series.reduce((n, s) => n + s.data.reduce((a, b) => a + b, 0), 0)).to.equal(Number(total));
      const csv = await csvOf(view);
      expect(csv.length).to.equal(expected.length + 1);
    });
  }

  it('health: source health, inbox and recent polls as `npm run report` shows them', async () => {
    await open('health');
    await shot('health');
    const health = await sqlRows<{ source: string; status: string }>('source_health', {});
    expect((await shownTable('source_health')).rows.map((r) => [r[0], r[1]])).to.deep.equal(health.map((r) => [r.source, r.status]));
    const inbox = await sqlRows<{ status: string; events: number }>('inbox_status', {});
    expect((await shownTable('inbox')).rows.map((r) => [r[0], r[1]])).to.deep.equal(inbox.map((r) => [r.status, String(r.events)]));
    const polls = await shownTable('poll_runs');
    expect(polls.rows[0]!.slice(1, 3)).to.deep.equal(['full', 'succeeded']);
    for (const t of ['source_health', 'inbox', 'poll_runs']) expect((await csvOf(t))[0]!.length).to.be.greaterThan(3);
  });

  it('fits a phone: no sideways scrolling of the page, the chart drawn', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true });
    await phone.addCookies(await context.cookies());
    const p = await phone.newPage();
    await p.goto(`${dash.url}/dashboard#pipeline`);
    await p.waitForFunction(() => document.getElementById('view')?.dataset.state === 'ready');
    expect(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).to.equal(true);
    if (SHOTS) await p.screenshot({ path: `${SHOTS}/dashboard-phone.png` });
    await phone.close();
  });
});

function isoDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** RFC 4180: quoted fields with doubled quotes, CRLF rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r') continue;
    else if (c === '\n') row.push(field), rows.push(row), (row = []), (field = '');
    else field += c;
  }
  return rows;
}
