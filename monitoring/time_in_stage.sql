-- Question: how long do people stay in each stage before moving on?
-- One row per stage (FUB's stage id, under its current name): completed stays (the person has since
-- moved), their median, p90 and average length in hours, and how many people are in the stage now.
-- A stay that began before we could see it (kind 'first_seen') has no known start: it is left out of
-- the lengths but counted in in_stage_now. Deleted people are not in any stage now.
-- Parameters (optional; default in brackets):
--   fub.from, fub.to   only stays that began on these days, inclusive, in the session's TimeZone
--                      (in_stage_now is always today's) [all time]
-- Trouble: a stage whose median jumps, or that collects people who never leave, is a pipeline
-- problem rather than a collector problem; an empty result means no history is being recorded.
WITH params AS (
  SELECT
    coalesce(nullif(current_setting('fub.from', true), '')::date::timestamptz, '-infinity') AS starts,
    coalesce((nullif(current_setting('fub.to', true), '')::date + 1)::timestamptz, 'infinity') AS ends
), stays AS (
  -- A stay's end is the person's next row, which is never earlier: rows before the period are not needed.
  SELECT
    coalesce(s.stage_to_id::text, s.stage_to) AS stage_key,
    coalesce(st.name, s.stage_to) AS stage,
    s.kind,
    s.changed_at AS entered_at,
    lead(s.changed_at) OVER (PARTITION BY s.person_id ORDER BY s.changed_at, s.seq) AS left_at
  FROM params p
  JOIN stage_changes s ON s.changed_at >= p.starts
  LEFT JOIN stages st ON st.stage_id = s.stage_to_id
), lengths AS (
  SELECT
    stage_key,
    min(stage) AS stage,
    count(left_at) FILTER (WHERE kind <> 'first_seen')::int AS completed_stays,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - entered_at) / 3600)
      FILTER (WHERE left_at IS NOT NULL AND kind <> 'first_seen') AS hours,
    avg(extract(epoch FROM left_at - entered_at) / 3600) FILTER (WHERE left_at IS NOT NULL AND kind <> 'first_seen') AS avg_hours
  FROM stays, params p
  WHERE entered_at < p.ends
  GROUP BY stage_key
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
  round(l.hours[1]::numeric, 2)::float8 AS median_hours,
  round(l.hours[2]::numeric, 2)::float8 AS p90_hours,
  round(l.avg_hours::numeric, 2)::float8 AS avg_hours,
  coalesce(n.people, 0) AS in_stage_now
FROM lengths l
FULL JOIN now_in n USING (stage_key)
ORDER BY 1;
