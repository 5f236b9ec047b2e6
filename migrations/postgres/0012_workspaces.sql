-- Multi-workspace mode: installations, per-workspace settings, links and OAuth states.

-- One row per installation, keyed like every other table: the workspace's team id, or the
-- organization's enterprise id for an org-wide install. Tokens are stored sealed
-- (AES-256-GCM with CIRCLET_ENCRYPTION_KEY), never in clear.
CREATE TABLE installations (
    team_id               TEXT    PRIMARY KEY,
    team_name             TEXT,
    enterprise_id         TEXT,
    is_enterprise_install BOOLEAN NOT NULL DEFAULT FALSE,
    app_id                TEXT    NOT NULL,
    bot_user_id           TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    installer_user_id     TEXT,
    bot_token             TEXT    NOT NULL,
    refresh_token         TEXT,
    token_expires_at      BIGINT,
    installed_at          BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    uninstalled_at        BIGINT,
    -- Linked: this workspace's circles are part of the home workspace's reports and digest.
    home_team_id          TEXT
);

-- Settings product users and admins set from Slack; in single-workspace mode the environment's
-- apply where a workspace has none.
CREATE TABLE workspace_settings (
    team_id        TEXT    PRIMARY KEY,
    product_users  TEXT,
    digest_channel TEXT,
    updated_by     TEXT,
    updated_at     BIGINT NOT NULL
);

-- "Add to Slack" states: random, used once, expiring. Only a hash of each is kept.
CREATE TABLE oauth_states (
    state_hash TEXT    PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
