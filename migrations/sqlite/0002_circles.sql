-- Channels Circlet captures feedback in. A circle is never deleted: removing it stops capture
-- and keeps its data.
CREATE TABLE circles (
    team_id     TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    active      BOOLEAN NOT NULL,
    changed_by  TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (team_id, channel_id)
);
