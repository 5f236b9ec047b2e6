-- Live insights counted per workspace, UTC day, status and tag set: a report over every circle
-- of a busy workspace reads a few thousand of these instead of every insight of the period.
-- Kept by triggers, so every way an insight is created, tagged, triaged, merged or deleted
-- keeps it exact, in the same transaction.
CREATE TABLE insight_days (
    team_id  TEXT    NOT NULL,
    day      INTEGER NOT NULL,
    status   TEXT    NOT NULL,
    tags     TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (team_id, day, status, tags)
);

INSERT INTO insight_days (team_id, day, status, tags, count)
SELECT team_id, created_at / 86400000, status, tags, COUNT(*) FROM insights
WHERE deleted = FALSE AND merged_into IS NULL
GROUP BY 1, 2, 3, 4;

CREATE TRIGGER insight_days_insert AFTER INSERT ON insights
WHEN NEW.deleted = FALSE AND NEW.merged_into IS NULL
BEGIN
    INSERT INTO insight_days (team_id, day, status, tags, count)
    VALUES (NEW.team_id, NEW.created_at / 86400000, NEW.status, NEW.tags, 1)
    ON CONFLICT (team_id, day, status, tags) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER insight_days_leave AFTER UPDATE OF team_id, created_at, status, tags, deleted, merged_into ON insights
WHEN OLD.deleted = FALSE AND OLD.merged_into IS NULL
  AND (OLD.team_id IS NOT NEW.team_id OR OLD.created_at IS NOT NEW.created_at OR OLD.status IS NOT NEW.status
      OR OLD.tags IS NOT NEW.tags OR OLD.deleted IS NOT NEW.deleted OR OLD.merged_into IS NOT NEW.merged_into)
BEGIN
    UPDATE insight_days SET count = count - 1
    WHERE team_id = OLD.team_id AND day = OLD.created_at / 86400000 AND status = OLD.status AND tags = OLD.tags;
END;

CREATE TRIGGER insight_days_enter AFTER UPDATE OF team_id, created_at, status, tags, deleted, merged_into ON insights
WHEN NEW.deleted = FALSE AND NEW.merged_into IS NULL
  AND (OLD.team_id IS NOT NEW.team_id OR OLD.created_at IS NOT NEW.created_at OR OLD.status IS NOT NEW.status
      OR OLD.tags IS NOT NEW.tags OR OLD.deleted IS NOT NEW.deleted OR OLD.merged_into IS NOT NEW.merged_into)
BEGIN
    INSERT INTO insight_days (team_id, day, status, tags, count)
    VALUES (NEW.team_id, NEW.created_at / 86400000, NEW.status, NEW.tags, 1)
    ON CONFLICT (team_id, day, status, tags) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER insight_days_delete AFTER DELETE ON insights
WHEN OLD.deleted = FALSE AND OLD.merged_into IS NULL
BEGIN
    UPDATE insight_days SET count = count - 1
    WHERE team_id = OLD.team_id AND day = OLD.created_at / 86400000 AND status = OLD.status AND tags = OLD.tags;
END;
