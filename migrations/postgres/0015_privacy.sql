-- Privacy and retention (ARCHITECTURE §13).

-- Single-workspace mode's record that Slack uninstalled the app (multi-workspace mode keeps it
-- on `installations.uninstalled_at`): the workspace's rows are purged once
-- CIRCLET_UNINSTALL_RETENTION_DAYS have passed, unless the token works again first.
CREATE TABLE uninstalls (
    team_id        TEXT   PRIMARY KEY,
    uninstalled_at BIGINT NOT NULL
);

-- One row per daily privacy run (retention and uninstall purges), for /readyz. Holds no
-- workspace's data, only counts.
CREATE TABLE privacy_runs (
    day                BIGINT PRIMARY KEY,
    finished_at        BIGINT NOT NULL,
    insights_deleted   BIGINT NOT NULL,
    workspaces_purged  BIGINT NOT NULL
);
