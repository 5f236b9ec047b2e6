-- Slack Connect circles: a member may belong to another organization's workspace than the
-- installation every row is keyed by (team_id). Each insight keeps its author's own workspace,
-- learned from the message (`user_team`), else from users.info; NULL while unknown, which
-- reads as the installation's own workspace.
ALTER TABLE insights ADD COLUMN author_team_id TEXT;
-- Insights captured before this could only be by the installation's own members.
UPDATE insights SET author_team_id = team_id;
-- The author's workspace as the message event says it, for a capture from the cache.
ALTER TABLE messages ADD COLUMN user_team_id TEXT;
-- A person's own workspace as users.info says it.
ALTER TABLE people ADD COLUMN user_team_id TEXT;
