-- Capture and tagging. Every table is keyed by team_id, directly or through its insight.
-- Times are Unix milliseconds; Slack timestamps (`ts`) are kept as Slack's strings; event
-- ordering uses Slack's event_ts in microseconds.

-- Recent messages of circle channels (thread replies included), so a reaction usually needs
-- no API call to learn the text. Pruned after a retention period.
CREATE TABLE messages (
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    ts          TEXT    NOT NULL,
    user_id     TEXT,
    text        TEXT    NOT NULL,
    thread_ts   TEXT,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (team_id, channel_id, ts)
);
-- Replies of a thread in order. Not partial: SQLite's planner would rather scan the channel
-- than prove `thread_ts = ?` implies a partial index's condition.
CREATE INDEX messages_thread ON messages (team_id, channel_id, thread_ts, ts);
CREATE INDEX messages_seen ON messages (seen_at);

-- The latest known state of each member's tag or vote reaction on a circle message, captured
-- or not: votes given before a capture count once it happens, and an older event arriving
-- late (event_ts) never undoes a newer one.
CREATE TABLE reactions (
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    message_ts  TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    emoji       TEXT    NOT NULL,
    present     BOOLEAN NOT NULL,
    event_ts    INTEGER NOT NULL,
    PRIMARY KEY (team_id, channel_id, message_ts, user_id, emoji)
);

-- The last insight number handed out per workspace (the ids people type: `/feedback status 42`).
CREATE TABLE insight_numbers (
    team_id     TEXT    PRIMARY KEY,
    last_number INTEGER NOT NULL
);

CREATE TABLE insights (
    id               INTEGER PRIMARY KEY,
    team_id          TEXT    NOT NULL,
    number           INTEGER NOT NULL,
    channel_id       TEXT    NOT NULL,
    message_ts       TEXT    NOT NULL,
    thread_ts        TEXT,
    author_id        TEXT,
    -- NULL until the text is known (a reaction arrived before its message and Slack is asked).
    text             TEXT,
    -- Slack's event_ts (microseconds) of the event that set the text; older edits are ignored.
    text_version     INTEGER NOT NULL DEFAULT 0,
    source           TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'new',
    product_area     TEXT,
    sentiment        TEXT,
    customer_company TEXT,
    deleted          BOOLEAN NOT NULL DEFAULT FALSE,
    merged_into      INTEGER REFERENCES insights (id),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (team_id, number),
    UNIQUE (team_id, channel_id, message_ts)
);
CREATE INDEX insights_created ON insights (team_id, created_at);
CREATE INDEX insights_merged ON insights (merged_into) WHERE merged_into IS NOT NULL;

-- Earlier texts of edited insights.
CREATE TABLE insight_revisions (
    id          INTEGER PRIMARY KEY,
    insight_id  INTEGER NOT NULL REFERENCES insights (id),
    text        TEXT    NOT NULL,
    replaced_at INTEGER NOT NULL
);
CREATE INDEX insight_revisions_insight ON insight_revisions (insight_id);

-- A tag is on an insight while any source (reaction, rule, modal) gives it.
CREATE TABLE insight_tags (
    insight_id  INTEGER NOT NULL REFERENCES insights (id),
    tag         TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    PRIMARY KEY (insight_id, tag, source)
);

-- Every way an insight was captured (reaction, shortcut, rule, prompt), merged ones included.
CREATE TABLE insight_sources (
    insight_id  INTEGER NOT NULL REFERENCES insights (id),
    source      TEXT    NOT NULL,
    PRIMARY KEY (insight_id, source)
);

-- One row per member and voted message; an insight's votes are its distinct voters, so a
-- merge can move rows without double counting.
CREATE TABLE votes (
    insight_id  INTEGER NOT NULL REFERENCES insights (id),
    user_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    message_ts  TEXT    NOT NULL,
    PRIMARY KEY (insight_id, user_id, channel_id, message_ts)
);
CREATE INDEX votes_message ON votes (channel_id, message_ts, user_id);

CREATE TABLE replies (
    insight_id  INTEGER NOT NULL REFERENCES insights (id),
    channel_id  TEXT    NOT NULL,
    ts          TEXT    NOT NULL,
    user_id     TEXT,
    text        TEXT    NOT NULL,
    PRIMARY KEY (insight_id, channel_id, ts)
);
CREATE INDEX replies_message ON replies (channel_id, ts);

-- Per-workspace changes to the default emoji → tag map; a NULL tag switches a default off.
CREATE TABLE emoji_tags (
    team_id     TEXT    NOT NULL,
    emoji       TEXT    NOT NULL,
    tag         TEXT,
    changed_by  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (team_id, emoji)
);

CREATE TABLE rules (
    team_id     TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    phrase      TEXT    NOT NULL,
    tag         TEXT    NOT NULL,
    capture     BOOLEAN NOT NULL,
    created_by  TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (team_id, number)
);

-- Status history; a change's id keys its close-the-loop replies so they are posted once.
CREATE TABLE status_changes (
    id          INTEGER PRIMARY KEY,
    insight_id  INTEGER NOT NULL REFERENCES insights (id),
    status      TEXT    NOT NULL,
    changed_by  TEXT,
    changed_at  INTEGER NOT NULL
);
CREATE INDEX status_changes_insight ON status_changes (insight_id);
