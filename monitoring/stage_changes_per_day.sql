-- Question: how many people reached each stage per day (e.g. "ACQ - Offers Made" today)?
-- One row per day and stage for the last 30 days, newest day first; sources counted apart so a
-- day that only polling saw stands out. Only arrivals count: a stage we first found a person in
-- (kind 'first_seen': the first poll after installation, say) is not an arrival. Stages are FUB's
-- stage ids shown under their current name, so a stage renamed in FUB's settings stays one stage.
-- Deleted people's moves still count: they happened.
-- Trouble: a day with polling_rows but no webhook_rows means webhooks were missed that day.
SELECT
  (s.changed_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
  min(coalesce(st.name, s.stage_to)) AS stage,
  count(*)::int AS changes,
  count(*) FILTER (WHERE s.source LIKE 'webhook\_%')::int AS webhook_rows,
  count(*) FILTER (WHERE s.source = 'polling')::int AS polling_rows
FROM stage_changes s
LEFT JOIN stages st ON st.stage_id = s.stage_to_id
WHERE s.kind <> 'first_seen' AND s.changed_at >= current_date - 29
GROUP BY 1, coalesce(s.stage_to_id::text, s.stage_to)
ORDER BY day DESC, stage;
