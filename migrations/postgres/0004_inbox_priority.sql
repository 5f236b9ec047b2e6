-- Interactions and slash commands are claimed ahead of a backlog of events: a shortcut's
-- trigger lives 3 s and a person is waiting on a command's answer.
CREATE INDEX inbox_due_interactive ON inbox (run_after)
    WHERE state IN ('pending', 'running') AND kind IN ('interaction', 'command');
