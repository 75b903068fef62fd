-- Question: is each source of stage changes alive? Run daily (or from `npm run report`).
-- One row per source: each webhook event the collector is registered for, and `polling`.
-- Trouble: status 'STALE - Check webhook server' (no webhook of that event received for over an hour)
-- or 'STALE - Check polling script' (no successful poll for over 45 minutes). Liveness comes from
-- what was received and from poll_runs, not from inserted rows: a quiet day is not a dead source.
WITH sources (source, last_alive_at) AS (
  SELECT 'webhook_' || e.event, (SELECT max(received_at) FROM webhook_events w WHERE w.event = e.event)
  FROM (VALUES ('peopleStageUpdated'), ('peopleUpdated'), ('peopleCreated')) AS e (event)
  UNION ALL
  SELECT 'polling', (SELECT max(finished_at) FROM poll_runs WHERE status = 'succeeded')
)
-- Rows recorded today and the latest, per source: each an index lookup on (source, changed_at).
SELECT
  s.source,
  (SELECT count(*) FROM stage_changes c WHERE c.source = s.source AND c.changed_at >= current_date)::int AS records_today,
  (SELECT max(c.changed_at) FROM stage_changes c WHERE c.source = s.source) AS latest_change,
  s.last_alive_at,
  CASE
    WHEN s.source = 'polling' AND (s.last_alive_at IS NULL OR s.last_alive_at < now() - interval '45 minutes')
      THEN 'STALE - Check polling script'
    WHEN s.source <> 'polling' AND (s.last_alive_at IS NULL OR s.last_alive_at < now() - interval '1 hour')
      THEN 'STALE - Check webhook server'
    ELSE 'HEALTHY'
  END AS status
FROM sources s
ORDER BY s.source;
