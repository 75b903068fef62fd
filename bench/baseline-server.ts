// The ingestion baseline: a bare Koa route doing one INSERT per request into the same database.
import Koa from 'koa';
import pg from 'pg';
import getRawBody from 'raw-body';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
// Each run starts from an empty table, as the collector's runs start from an empty inbox.
await pool.query('DROP TABLE IF EXISTS bench_baseline');
await pool.query('CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)');
const app = new Koa();
app.use(async (ctx) => {
  const body = await getRawBody(ctx.req, { limit: '1mb' });
  await pool.query('INSERT INTO bench_baseline (body) VALUES ($1)', [body.toString()]);
  ctx.body = { ok: true };
});
app.listen(Number(process.env.PORT));
