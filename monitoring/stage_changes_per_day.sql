-- Question: how many people reached each stage per day or week (e.g. "ACQ - Offers Made" today),
-- and, when asked, per agent or per lead source?
-- One row per period and stage (and group), newest period first; sources counted apart so a day that
-- only polling saw stands out. Only arrivals count: a stage we first found a person in (kind
-- 'first_seen': the first poll after installation, say) is not an arrival. Stages are FUB's stage ids
-- shown under their current name, so a stage renamed in FUB's settings stays one stage. Days are
-- those of the session's TimeZone (the service sets BUSINESS_TIMEZONE). Deleted people's moves count.
-- Parameters (optional, e.g. `SET fub.bucket = 'week';` in psql; default in brackets):
--   fub.from, fub.to   first and last day, inclusive [the last 30 days]
--   fub.bucket         day | week (weeks start on Monday; `day` is the period's first day) [day]
--   fub.stages         stage keys to keep, comma-separated (FUB's stage id, or the name of a stage
--                      without one) [all]
--   fub.group_by       agent | lead_source: counts per agent or lead source too (`grp`) [none]
-- Trouble: a day with polling_rows but no webhook_rows means webhooks were missed that day.
WITH params AS (
  SELECT
    coalesce(nullif(current_setting('fub.from', true), '')::date, current_date - 29)::timestamptz AS starts,
    (coalesce(nullif(current_setting('fub.to', true), '')::date, current_date) + 1)::timestamptz AS ends,
    coalesce(nullif(current_setting('fub.bucket', true), ''), 'day') AS bucket,
    string_to_array(nullif(current_setting('fub.stages', true), ''), ',') AS stages,
    coalesce(nullif(current_setting('fub.group_by', true), ''), 'none') AS group_by
)
SELECT
  date_trunc(p.bucket, s.changed_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
  min(coalesce(st.name, s.stage_to)) AS stage,
  coalesce(s.stage_to_id::text, s.stage_to) AS stage_key,
  CASE p.group_by WHEN 'agent' THEN coalesce(s.assigned_user_name, '(no agent)')
                  WHEN 'lead_source' THEN coalesce(s.lead_source, '(unknown)') END AS grp,
  count(*)::int AS changes,
  count(*) FILTER (WHERE s.source LIKE 'webhook\_%')::int AS webhook_rows,
  count(*) FILTER (WHERE s.source = 'polling')::int AS polling_rows
FROM params p
JOIN stage_changes s ON s.changed_at >= p.starts AND s.changed_at < p.ends
LEFT JOIN stages st ON st.stage_id = s.stage_to_id
WHERE s.kind <> 'first_seen'
  AND (p.stages IS NULL OR coalesce(s.stage_to_id::text, s.stage_to) = ANY (p.stages))
GROUP BY 1, 3, 4
ORDER BY day DESC, stage, grp;
