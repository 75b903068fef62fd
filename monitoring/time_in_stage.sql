-- Question: how long do people stay in each stage before moving on?
-- One row per stage (FUB's stage id, under its current name): completed stays (the person has since
-- moved), their median and average length in hours, and how many people are in the stage now.
-- A stay that began before we could see it (kind 'first_seen') has no known start: it is left out of
-- the lengths but counted in in_stage_now. Deleted people are not in any stage now.
-- Trouble: a stage whose median jumps, or that collects people who never leave, is a pipeline
-- problem rather than a collector problem; an empty result means no history is being recorded.
WITH stays AS (
  SELECT
    coalesce(s.stage_to_id::text, s.stage_to) AS stage_key,
    coalesce(st.name, s.stage_to) AS stage,
    s.kind,
    s.changed_at AS entered_at,
    lead(s.changed_at) OVER (PARTITION BY s.person_id ORDER BY s.changed_at, s.seq) AS left_at,
    p.deleted_at IS NOT NULL AS deleted
  FROM stage_changes s
  LEFT JOIN stages st ON st.stage_id = s.stage_to_id
  LEFT JOIN people p ON p.person_id = s.person_id
)
SELECT
  min(stage) AS stage,
  count(left_at) FILTER (WHERE kind <> 'first_seen')::int AS completed_stays,
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - entered_at) / 3600)
    FILTER (WHERE left_at IS NOT NULL AND kind <> 'first_seen'))::numeric, 2)::float8 AS median_hours,
  round((avg(extract(epoch FROM left_at - entered_at) / 3600) FILTER (WHERE left_at IS NOT NULL AND kind <> 'first_seen'))::numeric, 2)::float8 AS avg_hours,
  count(*) FILTER (WHERE left_at IS NULL AND NOT deleted)::int AS in_stage_now
FROM stays
GROUP BY stage_key
ORDER BY stage;
