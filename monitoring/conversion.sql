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
  -- A name is turned into its stage id when one is known (rows carry the id).
  SELECT p.starts, p.ends,
         coalesce((SELECT stage_id::text FROM stages WHERE name = p.a LIMIT 1), (SELECT stage_id::text FROM stage_names WHERE name = p.a), p.a) AS a_key,
         coalesce((SELECT stage_id::text FROM stages WHERE name = p.b LIMIT 1), (SELECT stage_id::text FROM stage_names WHERE name = p.b), p.b) AS b_key
  FROM params p
), reached_a AS (
  SELECT s.person_id, min(s.changed_at) AS a_at
  FROM keys k
  JOIN stage_changes s ON s.changed_at >= k.starts AND s.changed_at < k.ends
  WHERE s.kind <> 'first_seen' AND coalesce(s.stage_to_id::text, s.stage_to) = k.a_key
  GROUP BY s.person_id
), reached_b AS (
  SELECT a.person_id,
         (SELECT min(b.changed_at) FROM stage_changes b
          WHERE b.person_id = a.person_id AND b.changed_at >= a.a_at AND b.kind <> 'first_seen'
            AND coalesce(b.stage_to_id::text, b.stage_to) = k.b_key) - a.a_at AS took
  FROM reached_a a CROSS JOIN keys k
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
