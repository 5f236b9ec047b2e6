-- Live insights counted per workspace, UTC day, status and tag set: a report over every circle
-- of a busy workspace reads a few thousand of these instead of every insight of the period.
-- Kept by a trigger, so every way an insight is created, tagged, triaged, merged or deleted
-- keeps it exact, in the same transaction.
CREATE TABLE insight_days (
    team_id  TEXT   NOT NULL,
    day      BIGINT NOT NULL,
    status   TEXT   NOT NULL,
    tags     TEXT   NOT NULL,
    count    BIGINT NOT NULL,
    PRIMARY KEY (team_id, day, status, tags)
);

INSERT INTO insight_days (team_id, day, status, tags, count)
SELECT team_id, created_at / 86400000, status, tags, COUNT(*) FROM insights
WHERE deleted = FALSE AND merged_into IS NULL
GROUP BY 1, 2, 3, 4;

CREATE FUNCTION insight_days_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.deleted AND OLD.merged_into IS NULL THEN
        UPDATE insight_days SET count = count - 1
        WHERE team_id = OLD.team_id AND day = OLD.created_at / 86400000
          AND status = OLD.status AND tags = OLD.tags;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.deleted AND NEW.merged_into IS NULL THEN
        INSERT INTO insight_days (team_id, day, status, tags, count)
        VALUES (NEW.team_id, NEW.created_at / 86400000, NEW.status, NEW.tags, 1)
        ON CONFLICT (team_id, day, status, tags) DO UPDATE SET count = insight_days.count + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER insight_days_insert AFTER INSERT ON insights
FOR EACH ROW EXECUTE FUNCTION insight_days_count();
CREATE TRIGGER insight_days_update AFTER UPDATE OF team_id, created_at, status, tags, deleted, merged_into ON insights
FOR EACH ROW
WHEN (ROW(OLD.team_id, OLD.created_at, OLD.status, OLD.tags, OLD.deleted, OLD.merged_into)
    IS DISTINCT FROM ROW(NEW.team_id, NEW.created_at, NEW.status, NEW.tags, NEW.deleted, NEW.merged_into))
EXECUTE FUNCTION insight_days_count();
CREATE TRIGGER insight_days_delete AFTER DELETE ON insights
FOR EACH ROW EXECUTE FUNCTION insight_days_count();
