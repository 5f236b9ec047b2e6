-- Reaction rows are pruned once no insight or cached message needs them, oldest first.
CREATE INDEX reactions_event_ts ON reactions (event_ts);
