import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import type { FubClient, FubStage } from '../fub/fub-client.js';
import type { Logger } from '../logger.js';

// FUB's stage list is asked for at most this often about names already asked about...
const REFRESH_INTERVAL_MS = 60_000;
// ...but a name not yet asked about (a stage created in FUB's settings and used at once) is asked
// about now, up to this many extra reads a minute. Left to the next regular read, its move kept no
// id, and the history rebuild had to guess which stage the name was.
const EXTRA_REFRESHES_PER_INTERVAL = 10;

/**
 * Which id each stage name stands for. A read of a person gives both; a webhook's `data.stage` gives
 * only the name, and a rename in FUB's settings gives the same id a new name. Known pairs are kept
 * in `stage_names` (every name ever seen) and `stages` (each id's current name).
 */
export interface StageDirectory {
  /** Stores pairs seen in reads or FUB's stage list (only ones this process has not stored yet). */
  learn(stages: readonly FubStage[]): Promise<void>;
  /** Makes sure these names have ids, asking FUB's stage list when one is unknown. Never throws. */
  resolve(names: readonly string[]): Promise<void>;
  /** The id a name stands for now, as far as known (after `resolve`); null when no list had it. */
  idOf(name: string): number | null;
  /**
   * Reads FUB's stage list now (at start: a stage renamed later keeps the old name we learned here,
   * which webhooks sent before the rename still use). Never throws.
   */
  refresh(): Promise<void>;
}

export function createStageDirectory(deps: { db: Db; fub: FubClient; log: Logger }): StageDirectory {
  const known = new Map<string, number>();
  // Names neither the database nor FUB's list knew, and when: not asked about again until the next
  // refresh is due (a stage FUB no longer lists would otherwise cost a query per webhook).
  const unknownSince = new Map<string, number>();
  let lastRefresh = Number.NEGATIVE_INFINITY;
  const extraRefreshes: number[] = [];
  const mayRefreshEarly = (): boolean => {
    while (extraRefreshes.length > 0 && Date.now() - extraRefreshes[0]! >= REFRESH_INTERVAL_MS) extraRefreshes.shift();
    if (extraRefreshes.length >= EXTRA_REFRESHES_PER_INTERVAL) return false;
    extraRefreshes.push(Date.now());
    return true;
  };
  // One read of FUB's list at a time; everyone who needs it waits for the one in flight.
  let refreshing: Promise<void> | undefined;

  const directory: StageDirectory = {
    async learn(stages) {
      const fresh = [...new Map(stages.filter((s) => known.get(s.name) !== s.id).map((s) => [s.name, s])).values()];
      if (fresh.length === 0) return;
      await saveStageNames(deps.db, fresh);
      for (const stage of fresh) known.set(stage.name, stage.id);
    },
    async resolve(names) {
      const unknown = (): string[] => [...new Set(names)].filter((name) => !known.has(name));
      const recentlyMissing = (name: string): boolean => (unknownSince.get(name) ?? Number.NEGATIVE_INFINITY) >= lastRefresh && Date.now() - lastRefresh < REFRESH_INTERVAL_MS;
      if (unknown().every(recentlyMissing)) return;
      try {
        const stored = await deps.db.selectFrom('stage_names').select(['name', 'stage_id']).where('name', 'in', unknown()).execute();
        for (const row of stored) known.set(row.name, row.stage_id);
      } catch (error) {
        deps.log.warn({ err: error, names: unknown() }, 'could not look up stage ids; recording by name');
        return;
      }
      if (unknown().length === 0) return;
      const neverAsked = unknown().some((name) => (unknownSince.get(name) ?? Number.NEGATIVE_INFINITY) < lastRefresh);
      if (refreshing) await refreshing;
      else if (Date.now() - lastRefresh >= REFRESH_INTERVAL_MS || (neverAsked && mayRefreshEarly())) await directory.refresh();
      for (const name of unknown()) unknownSince.set(name, Date.now());
    },
    idOf(name) {
      return known.get(name) ?? null;
    },
    refresh() {
      refreshing ??= (async () => {
        lastRefresh = Date.now();
        try {
          await directory.learn(await deps.fub.getStages());
        } catch (error) {
          // A name alone still records a move; its id is filled in once FUB's list is read.
          deps.log.warn({ err: error }, "could not read FUB's stage list; stages are recorded by name until it answers");
        } finally {
          refreshing = undefined;
        }
      })();
      return refreshing;
    },
  };
  return directory;
}

/**
 * Upserts name → id and id → current name. One statement in name order, so concurrent writers lock
 * rows in the same order. The last pairs given are taken as the current names.
 *
 * A name seen for the first time (a stage created in FUB's settings after our last look at its list)
 * may already be on rows recorded by name alone, before anyone knew its id: they get it now, so
 * every count by stage id includes them.
 */
export async function saveStageNames(db: Db, stages: readonly FubStage[]): Promise<void> {
  const sorted = [...new Map(stages.map((s) => [s.name, s])).values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  const byId = [...new Map(stages.map((s) => [s.id, s])).values()].sort((a, b) => a.id - b.id);
  await sql`
    WITH names AS (
      INSERT INTO stage_names (name, stage_id)
      SELECT * FROM unnest(${sorted.map((s) => s.name)}::text[], ${sorted.map((s) => s.id)}::bigint[])
      ON CONFLICT (name) DO UPDATE SET stage_id = excluded.stage_id, seen_at = now()
      WHERE stage_names.stage_id <> excluded.stage_id
      RETURNING name, stage_id, (xmax = 0) AS new_name
    ), ids AS (
      INSERT INTO stages (stage_id, name)
      SELECT * FROM unnest(${byId.map((s) => s.id)}::bigint[], ${byId.map((s) => s.name)}::text[])
      ON CONFLICT (stage_id) DO UPDATE SET name = excluded.name, updated_at = now()
      WHERE stages.name <> excluded.name
    ), fresh AS (
      SELECT name, stage_id FROM names WHERE new_name
    )
    UPDATE stage_changes c
    SET stage_to_id = coalesce(c.stage_to_id, (SELECT f.stage_id FROM fresh f WHERE f.name = c.stage_to)),
        stage_from_id = coalesce(c.stage_from_id, (SELECT f.stage_id FROM fresh f WHERE f.name = c.stage_from))
    WHERE (c.stage_to_id IS NULL AND c.stage_to IN (SELECT name FROM fresh))
       OR (c.stage_from_id IS NULL AND c.stage_from IN (SELECT name FROM fresh))`.execute(db);
}
