-- Retention (pruning finished inbox rows and old raw bodies) and counts whose cost does not grow
-- with the tables (/health, /metrics).

-- Deleting a delivery checks that no event still points at it; without this index every deleted
-- delivery scanned the whole inbox.
CREATE INDEX webhook_events_delivery_idx ON webhook_events (delivery_id);
-- Pruning takes the oldest finished events first, a batch at a time.
CREATE INDEX webhook_events_finished_idx ON webhook_events (processed_at) WHERE status IN ('completed', 'ignored');
-- The unfinished events in arrival order: the oldest one (its age) is one lookup.
CREATE INDEX webhook_events_pending_idx ON webhook_events (id) WHERE status IN ('received', 'processing', 'failed');
-- Deliveries that repeated events already stored (the deduplicated counter).
CREATE INDEX webhook_deliveries_duplicates_idx ON webhook_deliveries (id) INCLUDE (duplicate_count) WHERE duplicate_count > 0;

-- The sum of column n over the rows of `query`, read exactly while the planner expects at most `cap`
-- rows, else the planner's estimate of the number of rows (statistics kept by autovacuum's ANALYZE):
-- cost bounded by `cap` index entries whatever the table's size. `exact` says which it is.
CREATE FUNCTION bounded_total(query text, cap integer, OUT n bigint, OUT exact boolean) LANGUAGE plpgsql AS $$
DECLARE
  plan json;
  counted bigint;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
  n := round((plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
  exact := false;
  IF n <= cap THEN
    EXECUTE format('SELECT count(*), coalesce(sum(n), 0) FROM (%s LIMIT %s) bounded', query, cap + 1) INTO counted, n;
    -- More rows than the statistics said: what was read is a lower bound.
    exact := counted <= cap;
  END IF;
END $$;

-- stage_changes rows per source: exact while the table holds at most `cap` rows, else estimated
-- from the column's statistics (the few sources are all among its most common values).
CREATE FUNCTION stage_changes_by_source(cap integer) RETURNS TABLE (source text, n bigint, exact boolean) LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT b.exact FROM bounded_total('SELECT 1 AS n FROM stage_changes', cap) b) THEN
    RETURN QUERY SELECT c.source, count(*), true FROM stage_changes c GROUP BY c.source;
  ELSE
    RETURN QUERY
      SELECT v.source, round(v.freq * greatest(t.reltuples, 0))::bigint, false
      FROM pg_class t
      JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'stage_changes' AND s.attname = 'source'
      CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(source, freq)
      WHERE t.oid = 'stage_changes'::regclass;
  END IF;
END $$;
