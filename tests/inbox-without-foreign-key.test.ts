import { expect } from 'chai';
import { sql } from 'kysely';
import pg from 'pg';
import { createDb, type Db } from '../src/shared/db/database.js';
import { deleteUnreferencedDeliveries } from '../src/shared/retention/prune.repository.js';
import { toInboxEvents } from '../src/webhook/parse-webhook.js';
import { storeDeliveries } from '../src/webhook/webhook-events.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// Nothing in the schema ties an event to its body any more (migration 010): the inbox statement and
// retention must keep every event's body between them, also when they race (found by review).
describe('the inbox without its event -> delivery foreign key (migration 010)', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  let inbox: Db;
  before(async () => {
    tdb = await createTestDatabase();
    inbox = createDb(tdb.url, { max: 2, planOnce: true, applicationName: 'test-inbox' });
  });
  after(async () => {
    await inbox.destroy();
    await tdb.destroy();
  });

  const orphans = async (): Promise<string[]> =>
    (await sql<{ event_id: string }>`
      SELECT e.event_id FROM webhook_events e WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = e.delivery_id)`.execute(tdb.db)).rows.map(
      (r) => r.event_id,
    );

  it('a replay of a pruned body racing retention never leaves its new event pointing at a deleted body', async () => {
    // Many old bodies still referenced (pending events) ahead of the one retention may take: the
    // retention statement takes a while to reach it, as on a real inbox.
    await sql`
      WITH d AS (INSERT INTO webhook_deliveries (received_at, path, raw_body, event_count, duplicate_count)
                 SELECT now() - interval '40 days', '/webhooks/fub', '{}', 1, 0 FROM generate_series(1, 60000) RETURNING id)
      INSERT INTO webhook_events (event_id, delivery_id, event, payload, status)
      SELECT 'filler-' || id, id, 'peopleUpdated', '{}', 'received' FROM d`.execute(tdb.db);
    await sql`ANALYZE webhook_deliveries, webhook_events`.execute(tdb.db);
    const watcher = new pg.Client({ connectionString: tdb.url });
    await watcher.connect();
    try {
      for (let attempt = 1; attempt <= 5; attempt++) {
        // A body stored long ago whose events were finished and pruned; FUB (or anyone holding the
        // signed body) sends it again.
        const rawBody = JSON.stringify({ eventId: `replayed-${attempt}`, event: 'peopleStageUpdated', resourceIds: [attempt] });
        const delivery = { path: '/webhooks/fub', rawBody, events: toInboxEvents(JSON.parse(rawBody)) };
        const [first] = await storeDeliveries(inbox, [delivery]);
        await sql`DELETE FROM webhook_events WHERE delivery_id = ${first!.deliveryId}`.execute(tdb.db);
        const pruning = deleteUnreferencedDeliveries(tdb.db, { afterId: 0, upToId: first!.deliveryId }, 1000);
        // Once retention's statement is running (its snapshot taken), the replay arrives.
        for (let i = 0; i < 2000; i++) {
          const { rows } = await watcher.query(
            `SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%DELETE FROM webhook_deliveries%' AND pid <> pg_backend_pid()`,
          );
          if (rows.length > 0) break;
        }
        const [replayed] = await storeDeliveries(inbox, [delivery]);
        await pruning.catch(() => undefined);
        expect([...replayed!.inserted], `attempt ${attempt}`).to.deep.equal([`replayed-${attempt}`]);
        expect(await orphans(), `attempt ${attempt}: events whose raw body retention deleted`).to.deep.equal([]);
      }
    } finally {
      await watcher.end();
    }
  });
  it('two statements in flight storing the same new bodies (in opposite orders, one twice) keep one body each and every event once, under an existing body', async () => {
    await sql`TRUNCATE webhook_events, webhook_deliveries`.execute(tdb.db);
    const make = (n: number) => {
      const rawBody = JSON.stringify([
        { eventId: `c-${n}-a`, event: 'peopleUpdated', resourceIds: [n] },
        { event: 'peopleUpdated', resourceIds: [n], note: `no id ${n}` },
      ]);
      return { path: '/webhooks/fub', rawBody, events: toInboxEvents(JSON.parse(rawBody)) };
    };
    for (let round = 0; round < 20; round++) {
      const bodies = Array.from({ length: 6 }, (_, i) => make(round * 10 + i));
      const reversed = [...bodies].reverse();
      const answers = await Promise.all([storeDeliveries(inbox, [...bodies, bodies[2]!]), storeDeliveries(inbox, reversed)]);
      const newIds = answers.flatMap((a) => a.flatMap((d) => [...d.inserted]));
      expect(newIds.length, `round ${round}`).to.equal(12);
      expect(new Set(newIds).size).to.equal(12);
      // Every arrival of a body answers with the one delivery that holds it.
      const byBody = new Map<string, Set<number>>();
      [...bodies, bodies[2]!].forEach((b, i) => (byBody.get(b.rawBody) ?? byBody.set(b.rawBody, new Set()).get(b.rawBody)!).add(answers[0][i]!.deliveryId));
      reversed.forEach((b, i) => byBody.get(b.rawBody)!.add(answers[1][i]!.deliveryId));
      for (const ids of byBody.values()) expect(ids.size).to.equal(1);
    }
    expect(await orphans()).to.deep.equal([]);
    const counts = await sql<{ n: number; replays: number; events: number }>`
      SELECT count(*)::int AS n, sum(replay_count)::int AS replays, sum(event_count)::int AS events FROM webhook_deliveries`.execute(tdb.db);
    expect(counts.rows[0]).to.deep.equal({ n: 120, replays: 20 * 7, events: 20 * 13 * 2 });
  });
  it('a replay that finds its pruned body being deleted by retention stores the body again, under the id its events point at', async () => {
    await sql`TRUNCATE webhook_events, webhook_deliveries`.execute(tdb.db);
    const rawBody = JSON.stringify({ eventId: 'pruned-1', event: 'peopleStageUpdated', resourceIds: [1] });
    const delivery = { path: '/webhooks/fub', rawBody, events: toInboxEvents(JSON.parse(rawBody)) };
    const [first] = await storeDeliveries(inbox, [delivery]);
    await sql`DELETE FROM webhook_events`.execute(tdb.db);
    let replay: Promise<Awaited<ReturnType<typeof storeDeliveries>>> | undefined;
    await tdb.db.transaction().execute(async (trx) => {
      expect(await deleteUnreferencedDeliveries(trx, { afterId: 0, upToId: first!.deliveryId }, 10)).to.deep.equal([first!.deliveryId]);
      // The replay sees the body (the delete is not committed) and waits on it.
      replay = storeDeliveries(inbox, [delivery]);
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    const [again] = await replay!;
    expect([...again!.inserted]).to.deep.equal(['pruned-1']);
    expect(await orphans()).to.deep.equal([]);
    const kept = await sql<{ id: number; raw_body: string }>`SELECT id, raw_body FROM webhook_deliveries`.execute(tdb.db);
    expect(kept.rows).to.deep.equal([{ id: again!.deliveryId, raw_body: rawBody }]);
  });
});
