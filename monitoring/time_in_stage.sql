-- Question: how long do people stay in each stage before moving on?
-- One row per stage (FUB's stage id, under its current name): completed stays (the person has since
-- moved), their median, p90 and average length in hours, and how many people are in the stage now.
-- A stay that began before we could see it (kind 'first_seen') has no known start: it is left out of
-- the lengths but counted in in_stage_now. Deleted people are not in any stage now.
-- Read from the stay_counts and stay_lengths rollups when they count days in the session's TimeZone
-- (a percentile's length bucket from the first, then that bucket's exact lengths from the second),
-- else from the rows themselves; both give the same answer.
-- Parameters (optional; default in brackets):
--   fub.from, fub.to   only stays that began on these days, inclusive, in the session's TimeZone
--                      (in_stage_now is always today's) [all time]
--   fub.plain          on: read the rows themselves, not the rollups (to check them) [off]
-- Trouble: a stage whose median jumps, or that collects people who never leave, is a pipeline
-- problem rather than a collector problem; an empty result means no history is being recorded.
WITH params AS (
  SELECT
    nullif(current_setting('fub.from', true), '')::date AS first_day,
    nullif(current_setting('fub.to', true), '')::date AS last_day,
    coalesce(current_setting('fub.plain', true), '') <> 'on'
      AND (SELECT zone FROM rollup_zone) = current_setting('TimeZone') AS rolled_up
), stays AS (
  -- From the rows: each stay that began in the period. A stay's end is the person's next row, which
  -- is never earlier: rows before the period are not needed (those of the day before are read, as a
  -- day whose midnight comes twice begins before `day::timestamptz`, then left out by their day).
  SELECT
    coalesce(s.stage_to_id::text, s.stage_to) AS stage_key,
    coalesce(st.name, s.stage_to) AS stage,
    s.kind,
    s.changed_at AS entered_at,
    s.changed_at::date AS entered_on,
    lead(s.changed_at) OVER (PARTITION BY s.person_id ORDER BY s.changed_at, s.seq) AS left_at
  FROM params p
  JOIN stage_changes s ON s.changed_at >= coalesce((p.first_day - 1)::timestamptz, '-infinity')
  LEFT JOIN stages st ON st.stage_id = s.stage_to_id
  WHERE NOT (SELECT rolled_up FROM params)
), lengths_from_rows AS (
  SELECT
    stage_key,
    min(stage) AS stage,
    count(left_at) FILTER (WHERE kind <> 'first_seen')::int AS completed_stays,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - entered_at) / 3600)
      FILTER (WHERE left_at IS NOT NULL AND kind <> 'first_seen') AS hours,
    sum(extract(epoch FROM left_at - entered_at)) FILTER (WHERE kind <> 'first_seen') AS seconds
  FROM stays, params p
  WHERE entered_on >= coalesce(p.first_day, '-infinity') AND entered_on <= coalesce(p.last_day, 'infinity')
  GROUP BY stage_key
), per_key AS (
  -- From the rollups: per stage (id and the name on the row) and length bucket (null: no length),
  -- the stays and their seconds.
  SELECT coalesce(c.stage_to_id::text, c.stage_to) AS stage_key, c.stage_to_id, c.stage_to, c.bucket, sum(c.stays) AS stays, sum(c.seconds) AS seconds
  FROM params p
  JOIN stay_counts c ON c.day >= coalesce(p.first_day, '-infinity') AND c.day <= coalesce(p.last_day, 'infinity')
  WHERE (SELECT rolled_up FROM params)
  GROUP BY c.stage_to_id, c.stage_to, c.bucket
  HAVING sum(c.stays) <> 0
), totals AS (
  SELECT
    k.stage_key,
    min(coalesce(st.name, k.stage_to)) AS stage,
    coalesce(sum(k.stays) FILTER (WHERE k.bucket IS NOT NULL), 0)::int AS completed_stays,
    sum(k.seconds) FILTER (WHERE k.bucket IS NOT NULL) AS seconds
  FROM per_key k
  LEFT JOIN stages st ON st.stage_id = k.stage_to_id
  GROUP BY k.stage_key
), ranks AS (
  -- percentile_cont's arithmetic: the stays on either side of position p * (n - 1), counted from 0
  -- in length order.
  SELECT t.stage_key, q.i, q.p * (t.completed_stays - 1) AS pos, r.rank
  FROM totals t
  CROSS JOIN (VALUES (1, 0.5::float8), (2, 0.9::float8)) q (i, p)
  CROSS JOIN LATERAL (VALUES (floor(q.p * (t.completed_stays - 1))::bigint), (ceil(q.p * (t.completed_stays - 1))::bigint)) r (rank)
  WHERE t.completed_stays > 0
), buckets AS (
  -- Completed stays per stage and length bucket, with how many are in shorter buckets.
  SELECT stage_key, bucket, n, sum(n) OVER (PARTITION BY stage_key ORDER BY bucket) - n AS below
  FROM (SELECT stage_key, bucket, sum(stays) AS n FROM per_key WHERE bucket IS NOT NULL GROUP BY 1, 2) b
), wanted AS (
  -- Each rank's bucket, and its rank inside the bucket.
  SELECT r.stage_key, r.i, r.pos, r.rank, b.bucket, r.rank - b.below AS inside
  FROM ranks r
  JOIN buckets b ON b.stage_key = r.stage_key AND r.rank >= b.below AND r.rank < b.below + b.n
), in_bucket AS MATERIALIZED (
  -- A wanted bucket's exact lengths in order, with how many stays come before each.
  SELECT w.stage_key, w.bucket, x.seconds, x.before, x.upto
  FROM (SELECT DISTINCT stage_key, bucket FROM wanted) w
  CROSS JOIN params p
  CROSS JOIN LATERAL (
    SELECT l.seconds, sum(sum(l.stays)) OVER (ORDER BY l.seconds) - sum(l.stays) AS before, sum(sum(l.stays)) OVER (ORDER BY l.seconds) AS upto
    FROM stay_lengths l
    WHERE l.stage_key = w.stage_key AND l.bucket = w.bucket
      AND l.day >= coalesce(p.first_day, '-infinity') AND l.day <= coalesce(p.last_day, 'infinity')
    GROUP BY l.seconds
    HAVING sum(l.stays) <> 0
  ) x
), percentiles AS (
  SELECT w.stage_key, w.i,
         CASE WHEN min(w.rank) = max(w.rank) THEN min(v.hours)
              ELSE min(v.hours) + ((min(w.pos) - floor(min(w.pos))) * (max(v.hours) - min(v.hours))) END AS hours
  FROM wanted w
  JOIN in_bucket x ON x.stage_key = w.stage_key AND x.bucket = w.bucket AND w.inside >= x.before AND w.inside < x.upto
  CROSS JOIN LATERAL (SELECT (x.seconds / 3600)::float8 AS hours) v
  GROUP BY w.stage_key, w.i
), lengths AS (
  SELECT * FROM lengths_from_rows
  UNION ALL
  SELECT t.stage_key, t.stage, t.completed_stays,
         CASE WHEN t.completed_stays > 0 THEN ARRAY[(SELECT hours FROM percentiles pc WHERE pc.stage_key = t.stage_key AND pc.i = 1),
                                                    (SELECT hours FROM percentiles pc WHERE pc.stage_key = t.stage_key AND pc.i = 2)] END,
         t.seconds
  FROM totals t
), now_in AS (
  -- Where each person's history ends (kept on people by the recording core).
  SELECT coalesce(pe.stage_id::text, pe.stage) AS stage_key, min(coalesce(st.name, pe.stage)) AS stage, sum(pe.people)::int AS people
  FROM (SELECT stage_id, stage, count(*) AS people FROM people WHERE stage IS NOT NULL AND deleted_at IS NULL GROUP BY stage_id, stage) pe
  LEFT JOIN stages st ON st.stage_id = pe.stage_id
  GROUP BY 1
)
SELECT
  coalesce(l.stage, n.stage) AS stage,
  coalesce(l.completed_stays, 0) AS completed_stays,
  round(l.hours[1]::numeric, 2)::float8 AS median_hours,
  round(l.hours[2]::numeric, 2)::float8 AS p90_hours,
  -- The total over the count, rounded once.
  round(l.seconds / (3600 * l.completed_stays::bigint), 2)::float8 AS avg_hours,
  coalesce(n.people, 0) AS in_stage_now
FROM lengths l
FULL JOIN now_in n USING (stage_key)
ORDER BY 1;
