// End-to-end lag, webhook received → stage_changes row committed, at 10, 100 and 1,000 webhooks per
// second, with the simulated FUB answering each people fetch in 50 ms: webhooks without data.stage
// (every one needs a fetch), and webhooks naming the stage (no fetch: what recording alone costs).
// Beside them, in the same run: the same server processing only on a 5-second sweep (the
// polling-interval design the issue rules out).
import { sql } from 'kysely';
import { FubSimulator } from '../fub-simulator/fub-simulator.js';
import { createTestDatabase } from '../tests/support/test-database.js';
import { sleep, waitFor } from '../tests/support/wait.js';
import { liveCollector } from './live-collector.js';
import { writeBenchmarkSection } from './report.js';
import { machineLine, percentile, withPostgres } from './support.js';

const RATES = (process.env.BENCH_RATES ?? '10,100,1000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const WARM_UP = 5;

await withPostgres(async () => {
  const tdb = await createTestDatabase();
  const sim = new FubSimulator();
  await sim.start();
  sim.latencyMs = 50;
  let nextPerson = 1;
  try {
    // The moment each row's transaction commits: a deferred constraint trigger runs at COMMIT, and
    // clock_timestamp() there is the commit's time (recorded_at is the transaction's start).
    await sql`
      CREATE TABLE bench_commits (event_id text, committed_at timestamptz NOT NULL);
      CREATE FUNCTION bench_note_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO bench_commits VALUES (NEW.event_id, clock_timestamp()); RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER bench_note_commit AFTER INSERT ON stage_changes
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_note_commit();`.execute(tdb.db);
    const measure = async (rate: number, wakeOnReceive: boolean, named = false) => {
      await tdb.reset();
      await sql`TRUNCATE bench_commits`.execute(tdb.db);
      const collector = await liveCollector(tdb.db, sim, { wakeOnReceive });
      collector.processor.start();
      // Warm-up, as a server that has been running is: its first webhooks also wait for FUB's stage
      // list and the database's first plans. Their rows are not measured (no commit times kept).
      for (let i = 0; i < WARM_UP; i++) {
        const id = nextPerson++;
        sim.addPerson(id, 'Lead');
        const move = sim.movePerson(id, 'ACQ - Qualified');
        await collector.deliver(named ? move.stageUpdated : move.stageUpdatedBare);
      }
      await waitFor('the warm-up recorded', async () => {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM stage_changes`.execute(tdb.db);
        return rows[0]!.n === WARM_UP;
      }, 30_000);
      await sql`TRUNCATE bench_commits`.execute(tdb.db);
      const total = rate * SECONDS;
      const started = performance.now();
      const sends: Promise<number>[] = [];
      for (let i = 0; i < total; i++) {
        const due = started + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const id = nextPerson++;
        sim.addPerson(id, 'Lead');
        const move = sim.movePerson(id, 'ACQ - Qualified');
        sends.push(collector.deliver(named ? move.stageUpdated : move.stageUpdatedBare));
      }
      const statuses = await Promise.all(sends);
      if (statuses.some((s) => s !== 200)) throw new Error('a webhook was not accepted');
      await waitFor('all changes recorded', async () => {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM stage_changes`.execute(tdb.db);
        return rows[0]!.n === WARM_UP + total;
      }, 120_000);
      await collector.close();
      const { rows } = await sql<{ ms: number }>`
        SELECT extract(epoch FROM min(c.committed_at) - e.received_at) * 1000 AS ms
        FROM stage_changes s JOIN webhook_events e ON e.event_id = s.event_id JOIN bench_commits c ON c.event_id = s.event_id
        GROUP BY e.event_id, e.received_at`.execute(tdb.db);
      const lags = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
      if (lags.length !== total) throw new Error(`${lags.length} commit times for ${total} rows`);
      return { p50: percentile(lags, 50), p99: percentile(lags, 99), n: lags.length };
    };
    const lines = [
      `Each rate held for ${SECONDS} s. Without data.stage each webhook needs a people fetch that the simulator answers in 50 ms; with data.stage it needs none. Lag runs from the inbox insert to the COMMIT of the row's transaction (clock_timestamp() in a deferred trigger), after ${WARM_UP} warm-up webhooks (not measured). ${await machineLine(tdb.db, 'npm run bench:lag')}`,
      'Sender, simulator and collector share one Node process here, so the 1,000/s row is bound by that one thread as much as by the collector; people fetches were batched (~90 people per FUB call at that rate).',
      '',
      '| webhooks/s | without data.stage, processing starts at once: p50 | p99 | with data.stage: p50 | p99 | baseline, without data.stage, 5 s sweep only: p50 | p99 |',
      '|---|---|---|---|---|---|---|',
    ];
    for (const rate of RATES) {
      const ours = await measure(rate, true);
      const named = await measure(rate, true, true);
      const swept = await measure(rate, false);
      const ms = (r: { p50: number; p99: number }) => `${Math.round(r.p50)} ms | ${Math.round(r.p99)} ms`;
      lines.push(`| ${rate} (${ours.n} webhooks) | ${ms(ours)} | ${ms(named)} | ${ms(swept)} |`);
      console.log(lines[lines.length - 1]);
    }
    await writeBenchmarkSection('End-to-end lag: webhook received → stage change committed', lines.join('\n'));
    console.log(lines.join('\n'));
  } finally {
    await sim.stop();
    await tdb.destroy();
  }
});
