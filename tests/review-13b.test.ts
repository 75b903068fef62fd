import { expect } from 'chai';
import { sql } from 'kysely';
import pg from 'pg';
import { createDb, type Db } from '../src/shared/db/database.js';
import { deleteUnreferencedDeliveries } from '../src/shared/retention/prune.repository.js';
import { toInboxEvents } from '../src/webhook/parse-webhook.js';
import { storeDeliveries } from '../src/webhook/webhook-events.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

// Review of the inbox changes (own pool planned once, bodies/payloads as JSON, no event -> delivery
// foreign key).
describe('review 13b: the inbox without its foreign key', function () {
  this.timeout(120_000);
  let tdb: TestDatabase;
  let inbox: Db;
  before(async () => {
    tdb = await createTestDatabase();
    inbox = createDb(tdb.url, { max: 2, planOnce: true, applicationName: 'review-inbox' });
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
});
