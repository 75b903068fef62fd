-- Question: which stages does FUB have (as last seen), and under which key do the other files take them?
-- One row per stage: its key (FUB's stage id) and current name, by name.
-- Trouble: an empty result before any poll or fetch has read a person is normal.
SELECT stage_id::text AS stage_key, name
FROM stages
ORDER BY name;
