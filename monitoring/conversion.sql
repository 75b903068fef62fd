-- Question: of the people who reached stage A in a period, how many later reached stage B, and how
-- long did it take (median and p90)? Default: `ACQ - Qualified` -> `ACQ - Offers Made`.
-- One row. A person counts once, from their first arrival in A in the period to their first arrival
-- in B after it (B may fall after the period). Only arrivals count (not first sightings); stages are
-- FUB's stage ids, so a renamed stage is still itself. Days are those of the session's TimeZone.
-- Parameters (optional; default in brackets):
--   fub.from, fub.to     first and last day A may be reached, inclusive [the last 30 days]
--   fub.stage_a          stage key of A: FUB's stage id, or a stage's name [ACQ - Qualified]
--   fub.stage_b          stage key of B [ACQ - Offers Made]
-- Trouble: a conversion that drops suddenly, or hours that jump, is a pipeline question to ask.
WITH params AS (
  SELECT
    coalesce(nullif(current_setting('fub.from', true), '')::date, current_date - 29)::timestamptz AS starts,
    (coalesce(nullif(current_setting('fub.to', true), '')::date, current_date) + 1)::timestamptz AS ends,
    coalesce(nullif(current_setting('fub.stage_a', true), ''), 'ACQ - Qualified') AS a,
    coalesce(nullif(current_setting('fub.stage_b', true), ''), 'ACQ - Offers Made') AS b
), keys AS (
  -- A name is turned into its stage id when one is known (rows carry the id). a_id, b_id: the key as
  -- a number when it is written like one, so the (stage_to_id, changed_at) index finds the stage's rows.
  SELECT k.*, a.id AS a_id, b.id AS b_id
  FROM (
    SELECT p.starts, p.ends,
           coalesce((SELECT stage_id::text FROM stages WHERE name = p.a LIMIT 1), (SELECT stage_id::text FROM stage_names WHERE name = p.a), p.a) AS a_key,
           coalesce((SELECT stage_id::text FROM stages WHERE name = p.b LIMIT 1), (SELECT stage_id::text FROM stage_names WHERE name = p.b), p.b) AS b_key
    FROM params p
  ) k
  CROSS JOIN LATERAL (SELECT CASE WHEN k.a_key ~ '^(0|-?[1-9][0-9]{0,18})$' THEN CASE WHEN k.a_key::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 THEN k.a_key::bigint END END AS id) a
  CROSS JOIN LATERAL (SELECT CASE WHEN k.b_key ~ '^(0|-?[1-9][0-9]{0,18})$' THEN CASE WHEN k.b_key::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 THEN k.b_key::bigint END END AS id) b
), arrivals AS MATERIALIZED (
  -- Arrivals in A during the period, and in B since it began (a B that counts comes after an A in
  -- it): ranges of the (stage_to_id, changed_at) index, or of (stage_to, changed_at) for a stage known
  -- by name only. A row is in stage `key` when coalesce(stage_to_id::text, stage_to) = key.
  SELECT x.stage, s.person_id, s.changed_at
  FROM keys k
  CROSS JOIN LATERAL (VALUES ('a', k.a_id, k.a_key, k.ends), ('b', k.b_id, k.b_key, 'infinity'::timestamptz)) x (stage, id, key, ends)
  JOIN stage_changes s ON s.stage_to_id = x.id AND s.changed_at >= k.starts AND s.changed_at < x.ends
  WHERE s.kind <> 'first_seen'
  UNION ALL
  SELECT x.stage, s.person_id, s.changed_at
  FROM keys k
  CROSS JOIN LATERAL (VALUES ('a', k.a_key, k.ends), ('b', k.b_key, 'infinity'::timestamptz)) x (stage, key, ends)
  JOIN stage_changes s ON s.stage_to = x.key AND s.stage_to_id IS NULL AND s.changed_at >= k.starts AND s.changed_at < x.ends
  WHERE s.kind <> 'first_seen'
), reached_a AS (
  SELECT person_id, min(changed_at) AS a_at FROM arrivals WHERE stage = 'a' GROUP BY person_id
), reached_b AS (
  SELECT a.person_id, min(b.changed_at) - a.a_at AS took
  FROM reached_a a
  LEFT JOIN arrivals b ON b.stage = 'b' AND b.person_id = a.person_id AND b.changed_at >= a.a_at
  GROUP BY a.person_id, a.a_at
)
SELECT
  (SELECT coalesce(min(name), k.a_key) FROM stages WHERE stage_id::text = k.a_key) AS stage_a,
  (SELECT coalesce(min(name), k.b_key) FROM stages WHERE stage_id::text = k.b_key) AS stage_b,
  count(r.person_id)::int AS reached_a,
  count(r.took)::int AS reached_b,
  round(100.0 * count(r.took) / nullif(count(r.person_id), 0), 1)::float8 AS percent,
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.took) / 3600))::numeric, 2)::float8 AS median_hours,
  round((percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM r.took) / 3600))::numeric, 2)::float8 AS p90_hours
FROM keys k
LEFT JOIN reached_b r ON true
GROUP BY k.a_key, k.b_key;
