-- Question: how many people reached each stage per day or week (e.g. "ACQ - Offers Made" today),
-- and, when asked, per agent or per lead source?
-- One row per period and stage (and group), newest period first; sources counted apart so a day that
-- only polling saw stands out. Only arrivals count: a stage we first found a person in (kind
-- 'first_seen': the first poll after installation, say) is not an arrival. Stages are FUB's stage ids
-- shown under their current name, so a stage renamed in FUB's settings stays one stage. Days are
-- those of the session's TimeZone (the service sets BUSINESS_TIMEZONE). Deleted people's moves count.
-- Read from the arrival_counts rollup when it counts days in the session's TimeZone, else from the
-- rows themselves; both give the same answer.
-- Parameters (optional, e.g. `SET fub.bucket = 'week';` in psql; default in brackets):
--   fub.from, fub.to   first and last day, inclusive [the last 30 days]
--   fub.bucket         day | week (weeks start on Monday; `day` is the period's first day) [day]
--   fub.stages         stage keys to keep, comma-separated (FUB's stage id, or the name of a stage
--                      without one) [all]
--   fub.group_by       agent | lead_source: counts per agent or lead source too (`grp`) [none]
--   fub.plain          on: count the rows themselves, not the rollup (to check it) [off]
-- Trouble: a day with polling_rows but no webhook_rows means webhooks were missed that day.
WITH params AS (
  SELECT
    coalesce(nullif(current_setting('fub.from', true), '')::date, current_date - 29) AS first_day,
    coalesce(nullif(current_setting('fub.to', true), '')::date, current_date) AS last_day,
    coalesce(nullif(current_setting('fub.bucket', true), ''), 'day') AS bucket,
    string_to_array(nullif(current_setting('fub.stages', true), ''), ',') AS stages,
    CASE WHEN current_setting('fub.group_by', true) IN ('agent', 'lead_source') THEN current_setting('fub.group_by', true) ELSE 'none' END AS group_by,
    coalesce(current_setting('fub.plain', true), '') <> 'on'
      AND (SELECT zone FROM rollup_zone) = current_setting('TimeZone') AS rolled_up
), counted AS (
  -- Per day, stage (id and the name on the row) and group: from the rollup (a key's rows summed) ...
  SELECT c.day, c.stage_to_id, c.stage_to, c.grp,
         sum(c.changes) AS changes, sum(c.webhook_rows) AS webhook_rows, sum(c.polling_rows) AS polling_rows
  FROM params p
  JOIN arrival_counts c ON c.day >= p.first_day AND c.day <= p.last_day AND c.group_by = p.group_by
  WHERE (SELECT rolled_up FROM params)
  GROUP BY c.day, c.stage_to_id, c.stage_to, c.grp
  HAVING sum(c.changes) <> 0
  UNION ALL
  -- ... or from each arrival in the period: rows of the days around it, kept by their day (a day whose
  -- midnight comes twice begins before `day::timestamptz`, the later of the two).
  SELECT d.day, s.stage_to_id, s.stage_to,
         CASE p.group_by WHEN 'agent' THEN s.assigned_user_name WHEN 'lead_source' THEN s.lead_source END,
         1, (s.source LIKE 'webhook\_%')::int, (s.source = 'polling')::int
  FROM params p
  JOIN stage_changes s ON s.changed_at >= (p.first_day - 1)::timestamptz AND s.changed_at < (p.last_day + 2)::timestamptz
  CROSS JOIN LATERAL (SELECT s.changed_at::date AS day) d -- the session zone's day (AT TIME ZONE reads CET as a fixed +01)
  WHERE NOT (SELECT rolled_up FROM params) AND s.kind <> 'first_seen' AND d.day >= p.first_day AND d.day <= p.last_day
)
SELECT
  date_trunc(p.bucket, c.day::timestamp)::date AS day,
  min(coalesce(st.name, c.stage_to)) AS stage,
  coalesce(c.stage_to_id::text, c.stage_to) AS stage_key,
  CASE p.group_by WHEN 'agent' THEN coalesce(c.grp, '(no agent)')
                  WHEN 'lead_source' THEN coalesce(c.grp, '(unknown)') END AS grp,
  sum(c.changes)::int AS changes,
  sum(c.webhook_rows)::int AS webhook_rows,
  sum(c.polling_rows)::int AS polling_rows
FROM params p
CROSS JOIN counted c
LEFT JOIN stages st ON st.stage_id = c.stage_to_id
WHERE p.stages IS NULL OR coalesce(c.stage_to_id::text, c.stage_to) = ANY (p.stages)
GROUP BY 1, 3, 4
ORDER BY day DESC, stage, grp;
