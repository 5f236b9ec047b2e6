-- The inbox: every verified Slack delivery that needs work, written before Slack gets its 200.
-- Times are Unix milliseconds so both backends compare them the same way.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY,
    team_id       TEXT    NOT NULL,
    event_id      TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'pending',
    -- When a pending row may run, or when a running row's claim lapses.
    run_after     INTEGER NOT NULL,
    claim_token   TEXT,
    finished_at   INTEGER,
    last_error    TEXT
);

-- Only unfinished rows are indexed, so claiming stays cheap however many finished rows remain.
CREATE INDEX inbox_due ON inbox (run_after) WHERE state IN ('pending', 'running');
CREATE INDEX inbox_finished ON inbox (finished_at) WHERE state = 'done';
