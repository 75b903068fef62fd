-- Question: who moved where, most recently first, and who recorded it?
-- One row per arrival (first sightings left out), newest first: the person's name, from -> to under
-- the stages' current names, when (FUB's second), which source recorded it (webhook or poll), the
-- agent and the lead source as known at the move.
-- Parameters (optional; default in brackets):
--   fub.search   part of the person's name, any case [everyone]
--   fub.limit    rows per page [50]        fub.offset   rows to skip [0]
-- Trouble: nothing recent on a working day means nothing is being recorded; see source_health.sql.
WITH params AS (
  SELECT
    '%' || replace(replace(replace(nullif(current_setting('fub.search', true), ''), '\', '\\'), '%', '\%'), '_', '\_') || '%' AS pattern,
    -- Three characters or more: the trigram index on person_name finds the few rows that match.
    -- Fewer: most rows match, so reading newest first stops after a page.
    length(current_setting('fub.search', true)) >= 3 AS selective,
    coalesce(nullif(current_setting('fub.limit', true), '')::int, 50) AS page_size,
    coalesce(nullif(current_setting('fub.offset', true), '')::int, 0) AS skip
), found AS (
  -- Everyone: the newest rows, from the index in that order.
  (SELECT s.*
   FROM stage_changes s
   WHERE (SELECT pattern IS NULL FROM params) AND s.kind <> 'first_seen'
   ORDER BY s.changed_at DESC, s.seq DESC, s.id DESC
   LIMIT (SELECT page_size + skip FROM params))
  UNION ALL
  -- A short search: the newest rows whose name matches (concat_ws, as person_name is, but not the
  -- indexed expression: a trigram index cannot narrow one or two characters).
  (SELECT s.*
   FROM stage_changes s
   WHERE (SELECT pattern IS NOT NULL AND NOT selective FROM params) AND s.kind <> 'first_seen' AND concat_ws(' ', s.first_name, s.last_name) ILIKE (SELECT pattern FROM params)
   ORDER BY s.changed_at DESC, s.seq DESC, s.id DESC
   LIMIT (SELECT page_size + skip FROM params))
  UNION ALL
  -- A longer one: every row whose name matches, through the trigram index.
  SELECT s.*
  FROM stage_changes s
  WHERE (SELECT pattern IS NOT NULL AND selective FROM params) AND s.kind <> 'first_seen' AND person_name(s.first_name, s.last_name) ILIKE (SELECT pattern FROM params)
)
SELECT
  s.changed_at,
  s.person_id,
  person_name(s.first_name, s.last_name) AS name,
  coalesce(sf.name, s.stage_from) AS stage_from,
  coalesce(st.name, s.stage_to) AS stage_to,
  CASE WHEN s.source = 'polling' THEN 'poll' ELSE 'webhook' END AS recorded_by,
  s.source,
  s.assigned_user_name AS agent,
  s.lead_source
FROM found s
LEFT JOIN stages sf ON sf.stage_id = s.stage_from_id
LEFT JOIN stages st ON st.stage_id = s.stage_to_id
ORDER BY s.changed_at DESC, s.seq DESC, s.id DESC
LIMIT (SELECT page_size FROM params) OFFSET (SELECT skip FROM params);
