-- Question: how many people reached each stage per day (e.g. "ACQ - Offers Made" today)?
-- One row per day and stage for the last 30 days, newest day first; sources counted apart so a
-- day that only polling saw stands out.
-- Trouble: a day with polling_rows but no webhook_rows means webhooks were missed that day.
SELECT
  (changed_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
  stage_to AS stage,
  count(*)::int AS changes,
  count(*) FILTER (WHERE source LIKE 'webhook\_%')::int AS webhook_rows,
  count(*) FILTER (WHERE source = 'polling')::int AS polling_rows
FROM stage_changes
WHERE changed_at >= current_date - 29
GROUP BY 1, 2
ORDER BY day DESC, stage;
