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
  -- Each stay that began in the period: its stage, and its length in seconds if it is a completed
  -- arrival (null otherwise). A stay's end is the person's next row, which is never earlier: rows
  -- before the period are not needed.
  SELECT s.stage_to_id, s.stage_to,
         CASE WHEN s.kind <> 'first_seen' THEN extract(epoch FROM lead(s.changed_at) OVER (PARTITION BY s.person_id ORDER BY s.changed_at, s.seq) - s.changed_at) END AS seconds,
         s.changed_at
  FROM params p
  JOIN stage_changes s ON s.changed_at >= coalesce(p.first_day::timestamptz, '-infinity')
  WHERE NOT (SELECT rolled_up FROM params)
), per_key AS (
  -- Per stage (id and the name on the row) and length bucket (null: no length): stays and seconds ...
  SELECT c.stage_to_id, c.stage_to, c.bucket, sum(c.stays) AS stays, sum(c.seconds) AS seconds
  FROM params p
  JOIN stay_counts c ON (p.first_day IS NULL OR c.day >= p.first_day) AND (p.last_day IS NULL OR c.day <= p.last_day)
  WHERE (SELECT rolled_up FROM params)
  GROUP BY c.stage_to_id, c.stage_to, c.bucket
  HAVING sum(c.stays) <> 0
  UNION ALL
  -- ... or from each stay.
  SELECT s.stage_to_id, s.stage_to, stay_bucket(s.seconds), count(*), coalesce(sum(s.seconds), 0)
  FROM params p
  JOIN stays s ON s.changed_at < coalesce((p.last_day + 1)::timestamptz, 'infinity')
  GROUP BY 1, 2, 3
), lengths AS (
  SELECT
    coalesce(k.stage_to_id::text, k.stage_to) AS stage_key,
    min(coalesce(st.name, k.stage_to)) AS stage,
    coalesce(sum(k.stays) FILTER (WHERE k.bucket IS NOT NULL), 0)::int AS completed_stays,
    sum(k.seconds) FILTER (WHERE k.bucket IS NOT NULL) AS seconds
  FROM per_key k
  LEFT JOIN stages st ON st.stage_id = k.stage_to_id
  GROUP BY 1
), ranks AS (
  -- percentile_cont's arithmetic: the rows on either side of position p * (n - 1), counted from 0.
  SELECT l.stage_key, q.i, q.p * (l.completed_stays - 1) AS pos, r.rank
  FROM lengths l
  CROSS JOIN (VALUES (1, 0.5::float8), (2, 0.9::float8)) q (i, p)
  CROSS JOIN LATERAL (VALUES (floor(q.p * (l.completed_stays - 1))::bigint), (ceil(q.p * (l.completed_stays - 1))::bigint)) r (rank)
  WHERE l.completed_stays > 0
), buckets AS (
  -- Completed stays per stage and bucket, with how many lie in lower buckets.
  SELECT stage_key, bucket, n, sum(n) OVER (PARTITION BY stage_key ORDER BY bucket) - n AS below
  FROM (SELECT coalesce(stage_to_id::text, stage_to) AS stage_key, bucket, sum(stays) AS n
        FROM per_key WHERE bucket IS NOT NULL GROUP BY 1, 2) b
), wanted AS (
  -- The rank's bucket, and the rank inside it.
  SELECT r.stage_key, r.i, r.pos, r.rank, b.bucket, r.rank - b.below AS inside
  FROM ranks r
  JOIN buckets b ON b.stage_key = r.stage_key AND r.rank >= b.below AND r.rank < b.below + b.n
), lengths_in_bucket AS (
  -- The exact lengths of one bucket, in order, with how many come before each: from the rollup ...
  SELECT w.stage_key, w.bucket, x.seconds, x.before, x.upto
  FROM (SELECT DISTINCT stage_key, bucket FROM wanted) w
  CROSS JOIN params p
  CROSS JOIN LATERAL (
    SELECT l.seconds, sum(sum(l.stays)) OVER (ORDER BY l.seconds) - sum(l.stays) AS before, sum(sum(l.stays)) OVER (ORDER BY l.seconds) AS upto
    FROM stay_lengths l
    WHERE l.stage_key = w.stage_key AND l.bucket = w.bucket
      AND (p.first_day IS NULL OR l.day >= p.first_day) AND (p.last_day IS NULL OR l.day <= p.last_day)
    GROUP BY l.seconds
    HAVING sum(l.stays) <> 0
  ) x
  WHERE (SELECT rolled_up FROM params)
  UNION ALL
  -- ... or from the stays.
  SELECT w.stage_key, w.bucket, x.seconds, x.before, x.upto
  FROM (SELECT DISTINCT stage_key, bucket FROM wanted) w
  CROSS JOIN params p
  CROSS JOIN LATERAL (
    SELECT s.seconds, sum(count(*)) OVER (ORDER BY s.seconds) - count(*) AS before, sum(count(*)) OVER (ORDER BY s.seconds) AS upto
    FROM stays s
    WHERE coalesce(s.stage_to_id::text, s.stage_to) = w.stage_key AND stay_bucket(s.seconds) = w.bucket
      AND s.changed_at < coalesce((p.last_day + 1)::timestamptz, 'infinity')
    GROUP BY s.seconds
  ) x
  WHERE NOT (SELECT rolled_up FROM params)
), percentiles AS (
  SELECT w.stage_key, w.i,
         CASE WHEN min(w.rank) = max(w.rank) THEN min(v.hours)
              ELSE min(v.hours) + ((min(w.pos) - floor(min(w.pos))) * (max(v.hours) - min(v.hours))) END AS hours
  FROM wanted w
  JOIN lengths_in_bucket x ON x.stage_key = w.stage_key AND x.bucket = w.bucket AND w.inside >= x.before AND w.inside < x.upto
  CROSS JOIN LATERAL (SELECT (x.seconds / 3600)::float8 AS hours) v
  GROUP BY w.stage_key, w.i
), now_in AS (
  -- Where each person's history ends (kept on people by the recording core).
  SELECT coalesce(pe.stage_id::text, pe.stage) AS stage_key, min(coalesce(st.name, pe.stage)) AS stage, count(*)::int AS people
  FROM people pe
  LEFT JOIN stages st ON st.stage_id = pe.stage_id
  WHERE pe.stage IS NOT NULL AND pe.deleted_at IS NULL
  GROUP BY 1
)
SELECT
  coalesce(l.stage, n.stage) AS stage,
  coalesce(l.completed_stays, 0) AS completed_stays,
  round((SELECT hours FROM percentiles pc WHERE pc.stage_key = l.stage_key AND pc.i = 1)::numeric, 2)::float8 AS median_hours,
  round((SELECT hours FROM percentiles pc WHERE pc.stage_key = l.stage_key AND pc.i = 2)::numeric, 2)::float8 AS p90_hours,
  round(l.seconds / (3600 * l.completed_stays), 2)::float8 AS avg_hours,
  coalesce(n.people, 0) AS in_stage_now
FROM lengths l
FULL JOIN now_in n USING (stage_key)
ORDER BY 1;
