-- Inbox, per-person state and the stage_changes audit table.

-- One row per HTTP delivery FUB made: the raw body as received, and how many of its events were
-- redeliveries (the source of the deduplicated counter).
CREATE TABLE webhook_deliveries (
  id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  path text NOT NULL,
  raw_body text NOT NULL,
  event_count integer NOT NULL,
  duplicate_count integer NOT NULL
);
CREATE INDEX webhook_deliveries_received_at_idx ON webhook_deliveries (received_at);

-- The durable inbox: one row per FUB eventId, stored before FUB gets its 2xx.
CREATE TABLE webhook_events (
  id bigserial PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id),
  event text NOT NULL,
  resource_ids bigint[] NOT NULL DEFAULT '{}',
  event_created timestamptz,
  payload json NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  status text NOT NULL DEFAULT 'received'
    CHECK (status IN ('received', 'processing', 'completed', 'failed', 'ignored', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  locked_by text,
  locked_until timestamptz,
  processed_at timestamptz,
  error_message text
);
-- Claiming due work and expiring leases touch only the few unfinished rows.
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at, id) WHERE status IN ('received', 'failed');
CREATE INDEX webhook_events_lease_idx ON webhook_events (locked_until) WHERE status = 'processing';
CREATE INDEX webhook_events_status_idx ON webhook_events (status);

-- Per-person state; its row is the lock that serializes every stage decision for that person.
CREATE TABLE people (
  person_id bigint PRIMARY KEY,
  first_name text,
  last_name text,
  stage text,
  stage_changed_at timestamptz,
  assigned_user_id bigint,
  assigned_user_name text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The audit table the dashboards read.
CREATE TABLE stage_changes (
  id bigserial PRIMARY KEY,
  person_id bigint NOT NULL,
  first_name text,
  last_name text,
  stage_from text,
  stage_to text NOT NULL,
  changed_at timestamptz NOT NULL,
  -- The latest moment a report confirmed the person was still in stage_to during this run; lets a
  -- late report of an earlier move split the run instead of hiding a return to this stage.
  confirmed_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  source text NOT NULL,
  event_id text,
  assigned_user_id bigint,
  assigned_user_name text,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
-- A person's history in order (previous/next change around a moment).
CREATE INDEX stage_changes_person_changed_idx ON stage_changes (person_id, changed_at, id);
-- The poller's "same person and stage within +-5 minutes" guard.
CREATE INDEX stage_changes_person_stage_changed_idx ON stage_changes (person_id, stage_to, changed_at);
-- Dashboards: changes per stage per period, and everything in a period.
CREATE INDEX stage_changes_stage_changed_idx ON stage_changes (stage_to, changed_at);
CREATE INDEX stage_changes_changed_at_idx ON stage_changes (changed_at);
CREATE INDEX stage_changes_source_changed_idx ON stage_changes (source, changed_at);
