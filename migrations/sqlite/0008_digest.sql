-- Weekly digest, circle recaps and discussion prompts.

-- One row per post Circlet makes on a schedule: the product digest, a circle's recap, a prompt.
-- The primary key is the claim: whichever replica inserts the row queues the post, so each
-- (workspace, channel, week, kind) is posted at most once. `message_ts` records the post.
CREATE TABLE scheduled_posts (
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    claimed_at  INTEGER NOT NULL,
    posted_at   INTEGER,
    message_ts  TEXT,
    error       TEXT,
    PRIMARY KEY (team_id, channel_id, period, kind)
);
CREATE INDEX scheduled_posts_failed ON scheduled_posts (team_id, claimed_at) WHERE error IS NOT NULL;

-- Circles get the weekly member recap unless a community manager turns it off.
ALTER TABLE circles ADD COLUMN recap BOOLEAN NOT NULL DEFAULT TRUE;

-- Questions queued for the circles, posted one a week with the recap.
CREATE TABLE prompts (
    team_id       TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    question      TEXT    NOT NULL,
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    -- The week it went out in; NULL while queued.
    posted_period TEXT,
    removed_at    INTEGER,
    PRIMARY KEY (team_id, number)
);

-- Where each prompt was posted: replies in these threads are captured (source `prompt`).
CREATE TABLE prompt_posts (
    team_id        TEXT    NOT NULL,
    channel_id     TEXT    NOT NULL,
    ts             TEXT    NOT NULL,
    prompt_number  INTEGER NOT NULL,
    posted_at      INTEGER NOT NULL,
    PRIMARY KEY (team_id, channel_id, ts)
);

-- Reading a status change's week.
CREATE INDEX status_changes_at ON status_changes (changed_at);
CREATE INDEX insights_author ON insights (team_id, author_id, created_at);
