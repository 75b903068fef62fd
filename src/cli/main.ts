import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, readEnv, type ConfigPurpose } from '../shared/config.js';
import { formatTable } from '../shared/format-table.js';
import { createFubClient, fubConnection, type FubClient } from '../shared/fub/fub-client.js';
import { FubRateLimiter } from '../shared/fub/rate-limiter.js';
import { listWebhooks, reactivateWebhooks, registerWebhooks, COLLECTOR_EVENTS } from '../shared/fub/webhook-registrations.js';
import { createLogger } from '../shared/logger.js';
import { openRuntime, type Runtime } from '../shared/runtime.js';
import { UsageError } from '../shared/explain-error.js';
import { finish, runMain } from '../shared/run-main.js';
import { createProcessorFor } from '../webhook/webhook-service.js';
import { listEventsByIds, listEventsByStatus, replayEvents } from '../webhook/webhook-events.repository.js';
import { runPollCommand } from '../poller/poller-service.js';
import { pruneOldData } from '../shared/retention/prune.js';
import { printReport } from './report.js';

const out = (text: string): void => void process.stdout.write(text);

/** Logs go to stderr so tables on stdout stay clean; quiet unless LOG_LEVEL asks for more. */
function cliLogger(env: ReturnType<typeof readEnv>) {
  return createLogger((env.LOG_LEVEL as 'info' | undefined) ?? 'warn', 'stderr');
}

async function withRuntime(purpose: ConfigPurpose, work: (runtime: Runtime) => Promise<number>): Promise<number> {
  const env = readEnv();
  const runtime = await openRuntime(loadConfig(env, purpose), cliLogger(env));
  try {
    return await work(runtime);
  } finally {
    await runtime.close();
  }
}

function fubOnly(): FubClient {
  const env = readEnv();
  const config = loadConfig(env, 'poller');
  return createFubClient({
    ...fubConnection(config.fub),
    limiter: new FubRateLimiter(),
    log: cliLogger(env),
    maxRetries: 2,
  });
}

/** A command's action: its work, ended (exit code, or an explanation and exit 1) by runMain's rules. */
function run(action: () => Promise<number>): () => Promise<void> {
  return () => finish(action);
}

const statusOption = (value: string): 'failed' | 'dead' => {
  if (value !== 'failed' && value !== 'dead') throw new InvalidArgumentError('use failed or dead');
  return value;
};

const positiveInteger = (value: string): number => {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError('use a whole number from 1 up');
  return Number(value);
};

const program = new Command('fub-collector').description('Operate the FUB stage collector.').showHelpAfterError();

const webhooks = program.command('webhooks').description("FUB's webhooks for this system (needs the account owner's API key)");
webhooks
  .command('list')
  .description('list the webhooks FUB has for this system, with their status')
  .action(run(async () => {
    out(`${formatTable(await listWebhooks(fubOnly()), ['id', 'event', 'status', 'url'])}\n`);
    return 0;
  }));
webhooks
  .command('register')
  .description(`register ${COLLECTOR_EVENTS.join(', ')} to --url; running it again changes nothing`)
  .requiredOption('--url <url>', 'the public https URL of POST /webhooks/fub')
  .action((options: { url: string }) =>
    run(async () => {
      const results = await registerWebhooks(fubOnly(), options.url);
      out(`${formatTable(results.map((r) => ({ event: r.event, action: r.action, id: 'webhook' in r ? r.webhook.id : '' })))}\n`);
      const full = results.filter((r) => r.action === 'limit-reached');
      for (const r of full) process.stderr.write(`${r.event}: FUB allows only a couple of webhooks per event and this system has them already; run "webhooks list" and remove one in FUB.\n`);
      return full.length > 0 ? 1 : 0;
    })(),
  );
webhooks
  .command('reactivate')
  .description('re-enable every webhook FUB disabled after failed deliveries')
  .action(run(async () => {
    const done = await reactivateWebhooks(fubOnly());
    out(done.length === 0 ? 'No disabled webhooks.\n' : `${formatTable(done, ['id', 'event', 'status', 'url'])}\n`);
    return 0;
  }));

const events = program.command('events').description('the webhook inbox: inspect and replay');
events
  .command('list')
  .description('list inbox events with a status (default: dead)')
  .option('--status <status>', 'failed or dead', statusOption, 'dead')
  .option('--limit <n>', 'at most this many', positiveInteger, 50)
  .action((options: { status: 'failed' | 'dead'; limit: number }) =>
    run(() =>
      withRuntime('database', async ({ db }) => {
        const rows = await listEventsByStatus(db, options.status, options.limit);
        out(`${formatTable(rows, ['event_id', 'event', 'resource_ids', 'attempts', 'received_at', 'error_message'])}\n`);
        return 0;
      }),
    )(),
  );
events
  .command('replay')
  .description('make events due again with fresh attempts, and process them now')
  .argument('[eventIds...]', 'event ids to replay')
  .option('--status <status>', 'replay every event with this status: failed or dead', statusOption)
  .action((eventIds: string[], options: { status?: 'failed' | 'dead' }) =>
    run(() =>
      withRuntime('poller', async (runtime) => {
        if (eventIds.length === 0 && !options.status) throw new UsageError('name event ids or give --status dead');
        const selector: { status: 'failed' | 'dead' } | { eventIds: string[] } = options.status ? { status: options.status } : { eventIds };
        const replayed = new Set(await replayEvents(runtime.db, selector));
        const processor = createProcessorFor(runtime, runtime.newFubClient());
        await processor.drain();
        out(`${replayed.size} event(s) replayed.\n`);
        const mine = (await listEventsByIds(runtime.db, [...replayed])).filter((e) => e.status === 'failed' || e.status === 'dead');
        if (mine.length > 0) out(`Not yet processed:\n${formatTable(mine, ['event_id', 'status', 'attempts', 'error_message'])}\n`);
        return mine.length > 0 ? 1 : 0;
      }),
    )(),
  );

program
  .command('backfill')
  .description("walk every person in FUB once (the poller's full walk), with a progress bar; resumable")
  .action(run(() => withRuntime('poller', (runtime) => runPollCommand(runtime, { full: true }))));
program
  .command('poll')
  .description('run one poll now')
  .requiredOption('--once', 'one poll, then exit (the only mode here; `npm run poller` runs the schedule)')
  .action(run(() => withRuntime('poller', (runtime) => runPollCommand(runtime, { full: false }))));
program
  .command('prune')
  .description('delete finished inbox events and raw bodies older than RETENTION_DAYS (the webhook server does it daily); stage changes and dead events are kept')
  .action(run(() =>
    withRuntime('database', async ({ db, log, config }) => {
      const result = await pruneOldData({ db, log, retentionDays: config.retentionDays });
      out(`Pruned ${result.events} finished event(s) and ${result.deliveries} raw bodies received before ${result.cutoff.toISOString()} (RETENTION_DAYS=${config.retentionDays}).\n`);
      return 0;
    }),
  ));
program
  .command('report')
  .description('source health, inbox and recent polls; exit code 2 when something is STALE or dead')
  .action(run(() => withRuntime('database', ({ db, config }) => printReport(db, out, config.businessTimeZone))));

runMain(program);
