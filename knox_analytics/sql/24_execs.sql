-- Question: which program image did each process instance load, and when?
-- execs: every exec record (execve, mac_execve, fexecve, posix_spawn) attributed to the
-- process that runs the new image: the subject for execve, the child for posix_spawn
-- (macOS records posix_spawn in the parent, with a "child PID" argument).
CREATE OR REPLACE VIEW execs AS
WITH x AS (
    SELECT
        e.*,
        CASE WHEN e.event_name = 'AUE_POSIX_SPAWN'
             THEN CAST(list_filter(e.args, lambda a: a.name = 'child PID')[1].value AS UINTEGER)
             ELSE e.pid END AS exec_pid,
        CASE WHEN e.event_name = 'AUE_POSIX_SPAWN' THEN e.pid END AS spawner_pid
    FROM events AS e
    WHERE e.event_name IN ('AUE_EXECVE', 'AUE_MAC_EXECVE', 'AUE_FEXECVE', 'AUE_EXEC',
                           'AUE_POSIX_SPAWN')
)
SELECT x.*, i.instance, i.ppid AS instance_ppid
FROM x
ASOF LEFT JOIN instance_lookup AS i ON i.pid = x.exec_pid AND x.time >= i.start_time;
