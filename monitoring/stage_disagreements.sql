-- Question: whose current stage in FUB (as the last read showed it) disagrees with the last row we recorded?
-- One row per such person (stages compared by FUB's stage id where known, so a rename is no
-- disagreement; deleted people left out). Right after a poll there should be none.
-- Trouble: rows that stay after the next poll mean a change was not recorded; check the poller's logs.
WITH last_row AS (
  SELECT DISTINCT ON (person_id) person_id, stage_to, stage_to_id, changed_at
  FROM stage_changes
  ORDER BY person_id, changed_at DESC, seq DESC
)
SELECT
  p.person_id,
  p.first_name,
  p.last_name,
  p.fub_stage,
  l.stage_to AS recorded_stage,
  l.changed_at AS recorded_at,
  p.fub_stage_seen_at
FROM people p
LEFT JOIN last_row l USING (person_id)
WHERE p.fub_stage IS NOT NULL AND p.deleted_at IS NULL
  AND CASE WHEN p.fub_stage_id IS NOT NULL AND l.stage_to_id IS NOT NULL THEN p.fub_stage_id <> l.stage_to_id
           ELSE p.fub_stage IS DISTINCT FROM l.stage_to END
ORDER BY p.person_id;
