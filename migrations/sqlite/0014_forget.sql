-- Forgetting a member (ARCHITECTURE §13, src/store/forget/mod.rs).

-- A random key per workspace, made at its first forget. Forgotten members are kept only as a
-- keyed hash of (workspace, member) under it, and their insights' pseudonym is taken from that
-- hash; without the key neither leads back to the member. It is the workspace's: purged with it.
CREATE TABLE privacy_keys (
    team_id     TEXT    PRIMARY KEY,
    key         TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Members forgotten, by keyed hash only: a second forget of the same member is recognised
-- (and harmless), and nothing here names them.
CREATE TABLE forgotten_members (
    team_id      TEXT    NOT NULL,
    member_hash  TEXT    NOT NULL,
    forgotten_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, member_hash)
);
