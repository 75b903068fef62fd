-- Question: how long do people stay in each stage before moving on?
-- One row per stage: completed stays (the person has since moved), their median and average
-- length in hours, and how many people are in the stage now.
-- Trouble: a stage whose median jumps, or that collects people who never leave, is a pipeline
-- problem rather than a collector problem; an empty result means no history is being recorded.
WITH stays AS (
  SELECT
    stage_to AS stage,
    changed_at AS entered_at,
    lead(changed_at) OVER (PARTITION BY person_id ORDER BY changed_at, id) AS left_at
  FROM stage_changes
)
SELECT
  stage,
  count(left_at)::int AS completed_stays,
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM left_at - entered_at) / 3600)
    FILTER (WHERE left_at IS NOT NULL))::numeric, 2)::float8 AS median_hours,
  round((avg(extract(epoch FROM left_at - entered_at) / 3600) FILTER (WHERE left_at IS NOT NULL))::numeric, 2)::float8 AS avg_hours,
  count(*) FILTER (WHERE left_at IS NULL)::int AS in_stage_now
FROM stays
GROUP BY stage
ORDER BY stage;
