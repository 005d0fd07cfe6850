-- Question: which files did each process touch, how, and did it work?
-- file_access: every record of a file event (classes fr fw fa fm fc fd cl): time, process
-- instance, pid and command, operation (event name without AUE_, lower case), path and,
-- for renames/links, the second path (path2), the open(2) flags the event name encodes
-- (AUE_OPEN_RWTC = O_RDWR|O_CREAT|O_TRUNC), outcome.
CREATE OR REPLACE VIEW file_access AS
SELECT
    time, instance, pid, command, command_path, "user", euser, auid, euid,
    lower(regexp_replace(event_name, '^AUE_', '')) AS operation,
    event_name, event_classes,
    paths[1] AS path,
    paths[2] AS path2,
    open_flags_of(event_name) AS open_flags,
    success, return_errno, errno_name, errno_text, return_value,
    source, "offset", record_id
FROM activity
WHERE is_file_record(event_classes);
