-- Reports and export. Counts an insight is read by are kept on the insight itself (refreshed in
-- the transaction that changes them), so a report over a month of a busy workspace is an index
-- scan, not a join per insight.
ALTER TABLE insights ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE insights ADD COLUMN vote_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE insights ADD COLUMN reply_count BIGINT NOT NULL DEFAULT 0;
UPDATE insights SET
    vote_count = (SELECT COUNT(DISTINCT user_id) FROM votes WHERE insight_id = insights.id),
    reply_count = (SELECT COUNT(*) FROM replies WHERE insight_id = insights.id),
    tags = COALESCE((SELECT string_agg(tag, ';' ORDER BY tag) FROM
        (SELECT DISTINCT tag FROM insight_tags WHERE insight_id = insights.id) AS t), '');
-- Live insights only (not deleted, not merged away): what reports count. It covers every
-- column a report reads, the condition's own columns included (SQLite reads columns named in a
-- query from the table unless the index has them).
CREATE INDEX insights_report
    ON insights (team_id, created_at, channel_id, status, vote_count, author_id, tags, deleted, merged_into)
    WHERE deleted = FALSE AND merged_into IS NULL;

-- Who is in each circle. `joined_at` is NULL for members who were there before Circlet looked.
CREATE TABLE circle_members (
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    joined_at   BIGINT,
    left_at     BIGINT,
    PRIMARY KEY (team_id, channel_id, user_id)
);

-- What each member did in a circle per UTC day (days since the Unix epoch): posts, thread
-- replies and reactions. Small (members × active days) and kept, unlike the message cache.
CREATE TABLE member_activity (
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    day         BIGINT NOT NULL,
    user_id     TEXT    NOT NULL,
    posts       BIGINT NOT NULL DEFAULT 0,
    replies     BIGINT NOT NULL DEFAULT 0,
    reactions   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (team_id, day, channel_id, user_id)
);

-- Names for exports, learned from Slack (users.info, conversations.info, auth.test).
CREATE TABLE people (
    team_id     TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
ALTER TABLE circles ADD COLUMN name TEXT;
CREATE TABLE workspaces (
    team_id     TEXT    PRIMARY KEY,
    url         TEXT    NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Bearer tokens for the export API: only a SHA-256 of the secret part is kept; `prefix` is
-- the public part that finds the row.
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    team_id      TEXT,
    prefix       TEXT    NOT NULL UNIQUE,
    secret_hash  TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
