-- Backfill (ARCHITECTURE §12): per circle, the Slack time (microseconds) up to which its history
-- has been read, and when that sweep finished. Live events do not move it: a live message after
-- an outage would otherwise hide the outage from the next sweep.
CREATE TABLE sweep_marks (
    team_id    TEXT   NOT NULL,
    channel_id TEXT   NOT NULL,
    swept_to   BIGINT NOT NULL,
    swept_at   BIGINT NOT NULL,
    PRIMARY KEY (team_id, channel_id)
);
