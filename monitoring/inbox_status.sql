-- Question: is the webhook inbox being worked off, and how fast?
-- One row per inbox status with its count, the oldest event in it, and for completed events of
-- the last 24 hours the processing lag (received -> completed) at p50 and p95, in seconds.
-- Trouble: many 'received'/'failed' rows or an old oldest_received_at (processing stuck or FUB
-- unreachable), any 'dead' rows (see dead_letters.sql), or a p95 lag of more than a few seconds.
SELECT
  status,
  count(*)::int AS events,
  min(received_at) AS oldest_received_at,
  round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))
    FILTER (WHERE status = 'completed' AND processed_at >= now() - interval '24 hours'))::numeric, 3)::float8 AS lag_p50_seconds,
  round((percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at))
    FILTER (WHERE status = 'completed' AND processed_at >= now() - interval '24 hours'))::numeric, 3)::float8 AS lag_p95_seconds
FROM webhook_events
GROUP BY status
ORDER BY status;
