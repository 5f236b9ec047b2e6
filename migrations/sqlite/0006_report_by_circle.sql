-- A one-circle report reads only that circle's live insights of the period: the same covering
-- index as `insights_report`, led by the channel.
CREATE INDEX insights_report_circle
    ON insights (team_id, channel_id, created_at, status, vote_count, author_id, tags, deleted, merged_into)
    WHERE deleted = FALSE AND merged_into IS NULL;
