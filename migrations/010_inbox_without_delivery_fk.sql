-- The inbox statement writes a delivery and its events together, atomically; the foreign key from
-- each event to its delivery only re-checked that, by locking the delivery row once per event (a
-- row lock written to the table and the WAL for every webhook): a fifth of the database's work per
-- webhook received. Retention still deletes a delivery only once none of its events is left.
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_delivery_id_fkey;
