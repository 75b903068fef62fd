-- Exact history on FUB's own clock: the reports every person's history is rebuilt from, FUB's stage
-- ids, first sightings told apart from arrivals, and the order of moves made inside one second.

-- FUB's stage definitions: a rename in FUB's settings keeps the id, so history is grouped by id and
-- shown under the current name.
CREATE TABLE stages (
  stage_id bigint PRIMARY KEY,
  name text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- Every name a stage has been seen under: a webhook names the stage as it was called when it fired.
CREATE TABLE stage_names (
  name text PRIMARY KEY,
  stage_id bigint NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now()
);

-- One row of collector-wide state.
CREATE TABLE collector_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- On FUB's clock: since when webhooks or polls have been watching. A person FUB created later was
  -- seen arriving in their first stage; an older person met for the first time is a first sighting.
  watching_since timestamptz
);
INSERT INTO collector_state (id, watching_since)
SELECT true, least((SELECT min(event_created) FROM webhook_events), (SELECT min(started_at) FROM poll_runs));

-- Every report about a person's stage, as FUB made it. A person's stage_changes are rebuilt from
-- these under the person's lock, so the order reports arrive in never changes the history.
CREATE TABLE stage_evidence (
  id bigserial PRIMARY KEY,
  person_id bigint NOT NULL,
  -- move: a webhook naming the stage (data.stage): one move into it, in FUB's second `at`.
  -- unnamed_move: a peopleStageUpdated without data.stage: a move in second `at`, stage not named.
  -- snapshot: a read of the person (fetch or poll): in `stage` then, FUB's `updated` being `at`.
  kind text NOT NULL CHECK (kind IN ('move', 'unnamed_move', 'snapshot')),
  at timestamptz NOT NULL,
  stage text,
  stage_id bigint,
  -- Snapshots: FUB's clock when read (the answer's Date header), and the person's `created`.
  read_at timestamptz,
  person_created_at timestamptz,
  source text NOT NULL,
  event_id text,
  received_at timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'unnamed_move') = (stage IS NULL))
);
CREATE INDEX stage_evidence_person_idx ON stage_evidence (person_id, at);
-- A webhook's move is one move, however often its event is processed.
CREATE UNIQUE INDEX stage_evidence_event_idx ON stage_evidence (person_id, event_id) WHERE kind <> 'snapshot';
-- The same read twice says nothing new.
CREATE UNIQUE INDEX stage_evidence_snapshot_idx ON stage_evidence (person_id, at, coalesce(stage_id::text, stage)) WHERE kind = 'snapshot';

-- stage_changes: what kind of row (a move, FUB creating the person in a stage, or the stage we first
-- found them in, which is not an arrival), FUB's stage ids, and the order inside one second.
ALTER TABLE stage_changes
  ADD COLUMN kind text NOT NULL DEFAULT 'move' CHECK (kind IN ('move', 'created', 'first_seen')),
  ADD COLUMN seq smallint NOT NULL DEFAULT 0,
  ADD COLUMN stage_from_id bigint,
  ADD COLUMN stage_to_id bigint;

-- Existing rows: a first row written by the poller or from a fetched peopleUpdated was a first
-- sighting; one from peopleCreated was the person's creation; the rest were moves.
UPDATE stage_changes SET kind = CASE
  WHEN stage_from IS NOT NULL OR source = 'webhook_peopleStageUpdated' THEN 'move'
  WHEN source = 'webhook_peopleCreated' THEN 'created'
  ELSE 'first_seen' END;
UPDATE stage_changes s SET seq = o.seq
FROM (SELECT id, row_number() OVER (PARTITION BY person_id, changed_at ORDER BY id) - 1 AS seq FROM stage_changes) o
WHERE o.id = s.id AND o.seq > 0;

-- Existing rows become the evidence they stand for, so rebuilding a person reproduces them (a move
-- keeps its event id unless the person has two rows from one event: then the row id stands in).
INSERT INTO stage_evidence (person_id, kind, at, stage, read_at, person_created_at, source, event_id, received_at)
SELECT person_id,
       CASE WHEN kind = 'move' THEN 'move' ELSE 'snapshot' END,
       changed_at,
       stage_to,
       CASE WHEN kind = 'move' THEN NULL ELSE changed_at END,
       CASE WHEN kind = 'created' THEN changed_at END,
       source,
       CASE WHEN kind <> 'move' THEN event_id
            WHEN event_id IS NOT NULL AND row_number() OVER (PARTITION BY person_id, event_id ORDER BY id) = 1 THEN event_id
            ELSE 'legacy:' || id END,
       received_at
FROM stage_changes
ON CONFLICT DO NOTHING;

-- The order of a person's rows is (changed_at, seq): FUB's seconds, then the order inside one.
DROP INDEX stage_changes_person_changed_idx;
-- The ±5-minute guard's index: reports are now fitted against the person's whole history instead.
DROP INDEX stage_changes_person_stage_changed_idx;
ALTER TABLE stage_changes ADD CONSTRAINT stage_changes_person_order_key UNIQUE (person_id, changed_at, seq) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX stage_changes_stage_id_changed_idx ON stage_changes (stage_to_id, changed_at);
ALTER TABLE stage_changes DROP COLUMN confirmed_at;

-- people: the stage id, what FUB showed at the last read (id and `updated`), and deletion.
ALTER TABLE people
  ADD COLUMN stage_id bigint,
  ADD COLUMN fub_stage_id bigint,
  ADD COLUMN fub_updated_at timestamptz,
  ADD COLUMN deleted_at timestamptz;
