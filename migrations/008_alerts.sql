-- What the alert checker last saw and said, per condition: shared by every replica (one of them
-- sends, holding an advisory lock) and kept across restarts, so a condition is announced once.

CREATE TABLE alert_conditions (
  -- e.g. 'stale:polling', 'stale:webhook_peopleCreated', 'dead_events', 'poll_failed', 'inbox_backlog'
  key text PRIMARY KEY,
  active boolean NOT NULL,
  -- What the problem was when last seen (the recovery message repeats it).
  detail text NOT NULL,
  active_since timestamptz,
  -- Whether this episode's problem message went out (false: held back by the cooldown).
  notified boolean NOT NULL DEFAULT false,
  -- When a problem message for this condition last went out; the cooldown counts from it.
  last_alert_at timestamptz,
  updated_at timestamptz NOT NULL
);

-- One row per business day whose daily summary went out: the claim that makes it once per day.
CREATE TABLE alert_daily_summaries (
  summary_of date PRIMARY KEY,
  sent_at timestamptz NOT NULL
);
