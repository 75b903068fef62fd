-- Lead source: FUB's person `source` (where the lead came from, e.g. "Zillow"), on the person and on
-- each stage_changes row as it was known when the row was recorded, like the assigned agent.

ALTER TABLE people ADD COLUMN lead_source text;
ALTER TABLE stage_changes ADD COLUMN lead_source text;

-- Existing rows: the source was never read, so it stays unknown (NULL) until the person's next read
-- (a poll, a fetch for a webhook, or `npm run cli -- backfill`, which reads everyone once) fills
-- every row of theirs that lacks it. Rows recorded without an agent take the one last known.
UPDATE stage_changes s
SET assigned_user_id = p.assigned_user_id, assigned_user_name = p.assigned_user_name
FROM people p
WHERE p.person_id = s.person_id
  AND s.assigned_user_id IS NULL AND s.assigned_user_name IS NULL
  AND (p.assigned_user_id IS NOT NULL OR p.assigned_user_name IS NOT NULL);
