-- The poller's record of every run (liveness for health and monitoring) and its resumable state.

CREATE TABLE poll_runs (
  id bigserial PRIMARY KEY,
  mode text NOT NULL CHECK (mode IN ('incremental', 'full')),
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  -- People updated at or after this were read; null for a full walk.
  watermark timestamptz,
  -- Set on success: every change FUB made before this moment has now been read (the run's start,
  -- or for a full walk resumed across runs, when the walk began). The next watermark comes from it.
  complete_as_of timestamptz,
  pages integer NOT NULL DEFAULT 0,
  people_seen integer NOT NULL DEFAULT 0,
  changes_inserted integer NOT NULL DEFAULT 0,
  changes_skipped_as_duplicate integer NOT NULL DEFAULT 0,
  api_calls integer NOT NULL DEFAULT 0,
  error text
);
-- The next watermark, and liveness checks ("when did a poll last succeed?").
CREATE INDEX poll_runs_status_complete_idx ON poll_runs (status, complete_as_of DESC);
CREATE INDEX poll_runs_started_idx ON poll_runs (started_at DESC);

-- One row: where an interrupted full walk resumes, and what the poller learned about FUB's sorting.
CREATE TABLE poll_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  backfill_cursor text,
  backfill_started_at timestamptz,
  backfill_people_seen integer NOT NULL DEFAULT 0,
  -- Whether FUB honours sort=-updated (newest first); null until checked. When it does not, an
  -- incremental poll must read every page.
  descending_sort boolean,
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO poll_state (id) VALUES (true);
