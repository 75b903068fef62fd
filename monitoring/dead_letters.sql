-- Question: which webhook events gave up, and why?
-- One row per dead-lettered event, newest first, with its error and the people it named.
-- Trouble: any row. Fix the cause, then `npm run cli -- events replay --status dead`.
SELECT
  event_id,
  event,
  resource_ids,
  attempts,
  error_message,
  received_at,
  processed_at AS gave_up_at
FROM webhook_events
WHERE status = 'dead'
ORDER BY received_at DESC;
