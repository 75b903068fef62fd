-- Question: what did the last polls do?
-- The 10 most recent poll runs with what each read, recorded and cost in API calls.
-- Trouble: 'failed' runs in a row (see error), or no run in the last 45 minutes.
SELECT
  id,
  mode,
  status,
  started_at,
  round(extract(epoch FROM finished_at - started_at)::numeric, 1)::float8 AS seconds,
  pages,
  people_seen,
  changes_inserted,
  changes_skipped_as_duplicate,
  api_calls,
  error
FROM poll_runs
ORDER BY started_at DESC
LIMIT 10;
