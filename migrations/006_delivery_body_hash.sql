-- An exact replay of a delivery (the same bytes again) is counted on the first copy instead of
-- storing the raw body once more: a captured 1 MB signed body replayed 21 times stored 22 MB.

-- SHA-256 of raw_body (UTF-8). Rows stored before this migration have none, so a replay of
-- one of them is stored once more (and from then on counted).
ALTER TABLE webhook_deliveries ADD COLUMN body_sha256 bytea;
-- How many more times these exact bytes arrived, and when last. event_count and duplicate_count
-- add up every arrival, so the received and deduplicated counters still count each one.
ALTER TABLE webhook_deliveries ADD COLUMN replay_count integer NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN last_replayed_at timestamptz;
CREATE UNIQUE INDEX webhook_deliveries_body_sha256_idx ON webhook_deliveries (body_sha256);
