-- The dashboard's questions at a million rows (issue 12). Counting questions read small rollup tables
-- that statement triggers on stage_changes keep; time in stage reads them too, with each row's
-- left_at; the others get indexes. monitoring/ files read a rollup only when they count days in the
-- zone it counts in, and read stage_changes itself otherwise or when asked (fub.plain = on).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- When the person's next row began (null: still in that stage): the end of the stay this row began.
-- Kept by the triggers below whenever a person's rows change; writers never set it.
ALTER TABLE stage_changes ADD COLUMN left_at timestamptz;
-- Room in each page, so setting left_at (in no index) rewrites the row in place (a HOT update).
ALTER TABLE stage_changes SET (fillfactor = 90);
UPDATE stage_changes s SET left_at = n.next_at
FROM (SELECT id, lead(changed_at) OVER (PARTITION BY person_id ORDER BY changed_at, seq, id) AS next_at FROM stage_changes) n
WHERE n.id = s.id AND n.next_at IS NOT NULL;

-- The zone whose calendar days the rollups count: the service sets BUSINESS_TIMEZONE when it starts
-- (rebuild_rollups); until then, the zone this migration ran in.
CREATE TABLE rollup_zone (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  zone text NOT NULL
);
INSERT INTO rollup_zone (zone) VALUES (current_setting('TimeZone'));

-- Rollups hold signed deltas: each statement that changes stage_changes appends what it added and took
-- away, summed per key, so writers only ever insert here and never wait on each other. A key's value
-- is the sum of its rows; compaction replaces a day's loose rows by one folded row per key.

-- Arrivals (kind <> 'first_seen') per day, stage (FUB's id and the name on the row) and, under
-- group_by 'agent' or 'lead_source', per agent name or lead source (grp; null under 'none').
CREATE TABLE arrival_counts (
  day date NOT NULL,
  stage_to_id bigint,
  stage_to text NOT NULL,
  group_by text NOT NULL CHECK (group_by IN ('none', 'agent', 'lead_source')),
  grp text,
  changes integer NOT NULL,
  webhook_rows integer NOT NULL,
  polling_rows integer NOT NULL,
  folded boolean NOT NULL DEFAULT false
);
CREATE INDEX arrival_counts_day_idx ON arrival_counts (day, group_by) INCLUDE (stage_to_id, stage_to, grp, changes, webhook_rows, polling_rows);
CREATE INDEX arrival_counts_loose_idx ON arrival_counts (day) WHERE NOT folded;

-- Stays (a row until the person's next) per day they began and stage. Completed arrivals (left, not
-- first sightings) by length bucket with their total seconds; the rest (still there, or a first
-- sighting, whose start we never saw) under bucket null.
CREATE TABLE stay_counts (
  day date NOT NULL,
  stage_to_id bigint,
  stage_to text NOT NULL,
  bucket smallint,
  stays integer NOT NULL,
  seconds numeric NOT NULL,
  folded boolean NOT NULL DEFAULT false
);
CREATE INDEX stay_counts_day_idx ON stay_counts (day) INCLUDE (stage_to_id, stage_to, bucket, stays, seconds);
CREATE INDEX stay_counts_loose_idx ON stay_counts (day) WHERE NOT folded;

-- Completed stays' exact lengths per stage key, bucket and day: a percentile's bucket is found from
-- stay_counts, then only that bucket's lengths are read here.
CREATE TABLE stay_lengths (
  stage_key text NOT NULL,
  bucket smallint NOT NULL,
  day date NOT NULL,
  seconds numeric NOT NULL,
  stays integer NOT NULL,
  folded boolean NOT NULL DEFAULT false
);
CREATE INDEX stay_lengths_bucket_idx ON stay_lengths (stage_key, bucket, day) INCLUDE (seconds, stays);
CREATE INDEX stay_lengths_day_idx ON stay_lengths (day);
CREATE INDEX stay_lengths_loose_idx ON stay_lengths (day) WHERE NOT folded;

-- A stay length's bucket: sixteen per doubling of whole seconds (0-15 s one each). Integer
-- arithmetic, so a longer stay is never in a lower bucket: buckets in order hold the lengths in order.
-- One expression, so the planner inlines it. Negative lengths (-1) exist only inside a statement: a
-- row moved in time keeps its old left_at until the trigger refreshes it.
CREATE FUNCTION stay_bucket(seconds numeric) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (CASE WHEN seconds < 0 THEN -1
               WHEN seconds < 16 THEN floor(seconds)
               ELSE 16 * (60 - position(B'1' IN floor(seconds)::bigint::bit(64)))
                    + (floor(seconds)::bigint >> (60 - position(B'1' IN floor(seconds)::bigint::bit(64))))
          END)::smallint
$$;

-- The statement that adds signed stage_changes rows to the rollups: `source` yields a sign (+1 added,
-- -1 taken away) and the stage_changes columns. Written once: the triggers and rebuild_rollups run
-- it with their own source, and with TimeZone set to the rollup zone: a row's day is changed_at::date
-- there, as a session in that zone dates it (AT TIME ZONE would read a zone whose name is also an
-- abbreviation, CET or EET, as a fixed offset without summer time).
CREATE FUNCTION rollup_deltas_statement(source text, folded boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($sql$
WITH signed AS (%1$s),
facts AS (
  SELECT d.sign, d.changed_at::date AS day, d.stage_to_id, d.stage_to,
         d.kind <> 'first_seen' AS arrival, d.source LIKE 'webhook\_%%' AS webhook, d.source = 'polling' AS polling,
         d.assigned_user_name AS agent, d.lead_source,
         CASE WHEN d.kind <> 'first_seen' AND d.left_at IS NOT NULL THEN extract(epoch FROM d.left_at - d.changed_at) END AS seconds
  FROM signed d
), arrivals AS (
  INSERT INTO arrival_counts (day, stage_to_id, stage_to, group_by, grp, changes, webhook_rows, polling_rows, folded)
  SELECT f.day, f.stage_to_id, f.stage_to, g.group_by, g.grp, sum(f.sign),
         coalesce(sum(f.sign) FILTER (WHERE f.webhook), 0), coalesce(sum(f.sign) FILTER (WHERE f.polling), 0), %2$L
  FROM facts f CROSS JOIN LATERAL (VALUES ('none', NULL), ('agent', f.agent), ('lead_source', f.lead_source)) g (group_by, grp)
  WHERE f.arrival
  GROUP BY 1, 2, 3, 4, 5
  HAVING sum(f.sign) <> 0 OR coalesce(sum(f.sign) FILTER (WHERE f.webhook), 0) <> 0 OR coalesce(sum(f.sign) FILTER (WHERE f.polling), 0) <> 0
), stays AS (
  INSERT INTO stay_counts (day, stage_to_id, stage_to, bucket, stays, seconds, folded)
  SELECT f.day, f.stage_to_id, f.stage_to, stay_bucket(f.seconds), sum(f.sign), coalesce(sum(f.sign * f.seconds), 0), %2$L
  FROM facts f
  GROUP BY 1, 2, 3, 4
  HAVING sum(f.sign) <> 0 OR coalesce(sum(f.sign * f.seconds), 0) <> 0
)
INSERT INTO stay_lengths (stage_key, bucket, day, seconds, stays, folded)
SELECT coalesce(f.stage_to_id::text, f.stage_to), stay_bucket(f.seconds), f.day, f.seconds, sum(f.sign), %2$L
FROM facts f
WHERE f.seconds IS NOT NULL
GROUP BY 1, 2, 3, 4
HAVING sum(f.sign) <> 0
$sql$, source, folded)
$fn$;

-- Sets left_at on the rows of these people: each row's end is the person's next row. Each person's
-- rows are read through their index (LATERAL: never a scan of the table for a few people); only rows
-- whose left_at changes are written.
CREATE FUNCTION refresh_left_at(persons bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF cardinality(persons) = 0 THEN RETURN; END IF;
  UPDATE stage_changes s SET left_at = n.next_at
  FROM (
    SELECT w.id, w.next_at
    FROM unnest(persons) p (person_id)
    CROSS JOIN LATERAL (SELECT c.id, c.left_at, lead(c.changed_at) OVER (ORDER BY c.changed_at, c.seq, c.id) AS next_at
                        FROM stage_changes c WHERE c.person_id = p.person_id) w
    WHERE w.left_at IS DISTINCT FROM w.next_at
  ) n
  WHERE s.id = n.id;
END $$;

-- Recounts the rollups from stage_changes in the days of new_zone. Writers wait meanwhile (the SHARE
-- lock), so nothing is counted twice or missed; dashboards wait on the rollups' truncation.
CREATE FUNCTION rebuild_rollups(new_zone text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  zone_was constant text := current_setting('TimeZone');
BEGIN
  PERFORM set_config('TimeZone', new_zone, true); -- an unknown zone fails here, before anything is locked
  LOCK TABLE stage_changes IN SHARE MODE;
  UPDATE rollup_zone SET zone = new_zone;
  TRUNCATE arrival_counts, stay_counts, stay_lengths;
  EXECUTE rollup_deltas_statement('SELECT 1 AS sign, s.* FROM stage_changes s', true);
  PERFORM set_config('TimeZone', zone_was, true);
END $$;

SELECT rebuild_rollups(current_setting('TimeZone'));

-- The triggers, one per kind of statement (a trigger with transition tables has one event). Each
-- first refreshes left_at for the people whose order of rows changed (that UPDATE comes back here as
-- an update of left_at alone), then adds its own rows' deltas. Generated from the one statement
-- above so the plans are cached. A person's rows are written under the person's lock (the recording
-- core), so left_at is computed from a history no one else is changing.
DO $do$
DECLARE
  body constant text := $body$
DECLARE
  zone_was constant text := current_setting('TimeZone');
BEGIN
  PERFORM refresh_left_at(ARRAY(%s));
  PERFORM set_config('TimeZone', (SELECT zone FROM rollup_zone), true);
  %s;
  PERFORM set_config('TimeZone', zone_was, true);
  RETURN NULL;
END
$body$;
BEGIN
  EXECUTE format('CREATE FUNCTION stage_changes_inserted() RETURNS trigger LANGUAGE plpgsql AS %L', format(body,
    'SELECT DISTINCT person_id FROM new_rows',
    rollup_deltas_statement('SELECT 1 AS sign, * FROM new_rows', false)));
  EXECUTE format('CREATE FUNCTION stage_changes_deleted() RETURNS trigger LANGUAGE plpgsql AS %L', format(body,
    'SELECT DISTINCT person_id FROM old_rows',
    rollup_deltas_statement('SELECT -1 AS sign, * FROM old_rows', false)));
  EXECUTE format('CREATE FUNCTION stage_changes_updated() RETURNS trigger LANGUAGE plpgsql AS %L', format(body,
    'SELECT DISTINCT p.person_id FROM old_rows o FULL JOIN new_rows n ON n.id = o.id
       CROSS JOIN LATERAL (VALUES (o.person_id), (n.person_id)) p (person_id)
     WHERE p.person_id IS NOT NULL AND (o.person_id, o.changed_at, o.seq) IS DISTINCT FROM (n.person_id, n.changed_at, n.seq)',
    rollup_deltas_statement('SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows', false)));
END
$do$;

CREATE TRIGGER stage_changes_inserted AFTER INSERT ON stage_changes REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stage_changes_inserted();
CREATE TRIGGER stage_changes_deleted AFTER DELETE ON stage_changes REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stage_changes_deleted();
CREATE TRIGGER stage_changes_updated AFTER UPDATE ON stage_changes REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stage_changes_updated();

CREATE FUNCTION stage_changes_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE arrival_counts, stay_counts, stay_lengths;
  RETURN NULL;
END $$;
CREATE TRIGGER stage_changes_truncated AFTER TRUNCATE ON stage_changes FOR EACH STATEMENT EXECUTE FUNCTION stage_changes_truncated();

-- Conversion: arrivals in a stage over a period, with who arrived, from the index alone.
DROP INDEX stage_changes_stage_id_changed_idx;
CREATE INDEX stage_changes_stage_id_changed_idx ON stage_changes (stage_to_id, changed_at) INCLUDE (person_id, kind);

-- Time in stage: how many people are in each stage now, from the index alone.
CREATE INDEX people_stage_now_idx ON people (stage_id, stage) WHERE stage IS NOT NULL AND deleted_at IS NULL;

-- Recent moves, newest first: a page is the index's first rows.
CREATE INDEX stage_changes_recent_idx ON stage_changes (changed_at, seq, id) WHERE kind <> 'first_seen';

-- A person's name as the dashboard searches it; immutable (concat_ws of text is) so it can be indexed.
CREATE FUNCTION person_name(first_name text, last_name text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT concat_ws(' ', first_name, last_name)
$$;
-- Recent moves: a name search reads the few matching rows, not the table.
CREATE INDEX stage_changes_name_trgm_idx ON stage_changes USING gin (person_name(first_name, last_name) gin_trgm_ops) WHERE kind <> 'first_seen';
