import { expect } from 'chai';
import { createFubClient, FubApiError, type FubClient } from '../src/shared/fub/fub-client.js';
import { FubRateLimiter } from '../src/shared/fub/rate-limiter.js';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { testLogger } from './support/harness.js';

describe('FUB API client', () => {
  const sim = new FubSimulator();
  let limiter: FubRateLimiter;
  let fub: FubClient;
  const build = (overrides: Partial<Parameters<typeof createFubClient>[0]> = {}): FubClient =>
    createFubClient({
      ...sim.connection(),
      limiter,
      log: testLogger(),
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 50,
      ...overrides,
    });

  before(() => sim.start());
  beforeEach(() => {
    sim.reset();
    limiter = new FubRateLimiter();
    fub = build();
  });
  after(() => sim.stop());

  it('sends basic auth and the X-System headers', async () => {
    sim.addPerson(1, 'Lead');
    await fub.getPerson(1);
    const [req] = sim.requests;
    expect(req!.headers.authorization).to.equal('Basic ' + Buffer.from(`${sim.apiKey}:`).toString('base64'));
    expect(req!.headers['x-system']).to.equal(sim.system);
    expect(req!.headers['x-system-key']).to.equal(sim.systemKey);
  });

  it('fetches up to 100 people per call', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => i + 1);
    for (const id of ids) sim.addPerson(id, 'Lead');
    const { people } = await fub.getPeopleByIds(ids);
    expect(people.size).to.equal(250);
    expect(sim.requests.map((r) => r.query.get('id')!.split(',').length)).to.deep.equal([100, 100, 50]);
    expect(sim.requests.every((r) => r.query.get('includeTrash') === 'true')).to.equal(true);
  });

  it('answers null for a person FUB does not know (404)', async () => {
    expect(await fub.getPerson(404)).to.equal(null);
  });

  it('gives a clear error for a rejected API key, without retrying', async () => {
    const bad = build({ apiKey: 'wrong' });
    const error = await bad.getPerson(1).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(FubApiError);
    expect((error as Error).message).to.equal('FUB rejected the API key (401) on /people/1: check FUB_API_KEY');
    expect(sim.requests).to.have.length(1);
  });

  it('retries 5xx and network failures a bounded number of times', async () => {
    sim.addPerson(1, 'Lead');
    sim.faults.push(() => ({ status: 502, rawBody: '<html>Bad gateway</html>' }));
    const error = await build({ maxRetries: 3 }).getPerson(1).catch((e: unknown) => e);
    // FUB's status and the first bytes of what it said.
    expect((error as Error).message).to.equal('FUB /people/1 answered 502 4 times: "<html>Bad gateway</html>"');
    expect(sim.requests).to.have.length(4);

    const unreachable = createFubClient({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: 'k', limiter, log: testLogger(), maxRetries: 2, retryBaseDelayMs: 5 });
    const netError = await unreachable.getPerson(1).catch((e: unknown) => e);
    expect((netError as Error).message).to.match(/unreachable after 3 tries: ECONNREFUSED/);
  });

  it('makes every caller sharing the limiter wait out a 429 Retry-After', async () => {
    sim.addPerson(1, 'Lead');
    let first = true;
    sim.faults.push(() => {
      if (!first) return undefined;
      first = false;
      return { status: 429, headers: { 'Retry-After': '1' }, body: {} };
    });
    const other = build(); // e.g. the poller, in the same process
    const started = Date.now();
    const [a] = await Promise.all([fub.getPerson(1), new Promise((r) => setTimeout(r, 100)).then(() => other.getPerson(1))]);
    expect(a?.id).to.equal(1);
    const after429 = sim.requests.slice(1);
    expect(after429).to.have.length(2);
    for (const req of after429) expect(req.at - started).to.be.at.least(950);
  });

  it('stays under the limit FUB advertises in X-RateLimit-* headers', async () => {
    sim.rateLimit = { limit: 5, windowSeconds: 1 };
    sim.enforceRateLimit = true;
    sim.addPerson(1, 'Lead');
    await fub.getPerson(1); // learns the budget
    await Promise.all(Array.from({ length: 12 }, () => fub.getPerson(1)));
    expect(sim.requests.filter((r) => r.path === '/v1/people/1')).to.have.length(13);
    expect(limiter.waits).to.be.greaterThan(0);
    // No 429 was needed: the client paced itself.
    expect(fub.stats.byStatus['429']).to.equal(undefined);
  });

  it('a by-id page that answers some of the ids and says more follow is an error, not "the rest do not exist"', async () => {
    for (const id of [1, 2, 3]) sim.addPerson(id, 'Lead');
    const complete = await fub.getPeopleByIds([1, 2, 3]);
    expect([...complete.people.keys()].sort()).to.deep.equal([1, 2, 3]);
    // A proxy or a change at FUB pages the answer: none of them yet, and a cursor for the rest.
    sim.faults.push((req) =>
      req.path === '/v1/people' && req.query.has('id') ? { status: 200, body: { _metadata: { next: 'page2', total: 3 }, people: [] } } : undefined,
    );
    const error = await fub.getPeopleByIds([1, 2, 3]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(FubApiError);
    expect((error as Error).message).to.contain('said more follow');
  });
});
