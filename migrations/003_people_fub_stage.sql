-- What FUB itself showed for each person at the last poll, so monitoring can list people whose
-- current FUB stage disagrees with the last row we recorded.
ALTER TABLE people
  ADD COLUMN fub_stage text,
  ADD COLUMN fub_stage_seen_at timestamptz;
