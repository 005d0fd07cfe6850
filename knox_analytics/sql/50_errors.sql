-- Question: what failed, with which error, in which process, on which path?
-- errors: every failed record (success = false): errno number, name and text, event,
-- process instance, pid and command, user, first path (and second, for renames).
CREATE OR REPLACE VIEW errors AS
SELECT
    time, return_errno AS errno, errno_name, errno_text,
    event_name, event_classes, instance, pid, command, command_path, "user", euser, auid,
    euid,
    paths[1] AS path, paths[2] AS path2, texts, source, "offset", record_id
FROM activity
WHERE success = false;
