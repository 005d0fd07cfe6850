-- Question: what did the records before these leave running?
-- process_carry: one row per (machine, pid) seen before the records in `records` begin: its latest
-- exit and start times, its latest instance (as in process_instances) with the command
-- it inherited and its latest successful exec, and that instance's `processes` columns
-- so far.  It is what the process views need from earlier data, and it is empty here:
-- the views below then compute everything from `records`.  A dataset's derived state
-- (knox_analytics/derived/) replaces it, to derive the process views of newly
-- added records, all later than the data before them, from those records alone.
CREATE OR REPLACE VIEW process_carry AS
SELECT
    pid,
    time AS last_exit,
    time AS last_start,
    CAST(NULL AS VARCHAR) AS instance,
    time AS start_time,
    event_name AS start_event,
    pid AS ppid,
    CAST(NULL AS VARCHAR) AS parent_instance,
    source,
    "offset",
    CAST(NULL AS VARCHAR) AS inherited_path,
    time AS ok_time,
    CAST(NULL AS VARCHAR) AS ok_path,
    [{'time': time, 'path': paths[1], 'argv': argv, 'success': success}] AS execs,
    time AS exit_time,
    exit_status,
    exit_return,
    CAST(NULL AS VARCHAR) AS "user",
    auid,
    euid,
    sid,
    CAST(0 AS BIGINT) AS records,
    machine
FROM records
WHERE false;
