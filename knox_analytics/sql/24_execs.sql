-- Question: which program image did each process instance load, and when?
-- execs: every exec record (execve, mac_execve, fexecve, posix_spawn) attributed to the
-- process that runs the new image (exec_pid_of, 02_process_events): the subject for execve
-- and for a posix_spawn that creates no child (POSIX_SPAWN_SETEXEC, an exec in place), the
-- child for any other posix_spawn (macOS records posix_spawn in the parent, with a "child
-- PID" argument), whose subject is then `spawner_pid`.
CREATE OR REPLACE VIEW execs AS
WITH x AS (
    SELECT
        e.*,
        exec_pid_of(e.event_name, e.args, e.pid, e.success) AS exec_pid,
        spawner_pid_of(e.event_name, e.args, e.pid, e.success) AS spawner_pid
    FROM events AS e
    WHERE is_image_event(e.event_name)
)
SELECT x.*, i.instance, i.ppid AS instance_ppid
FROM x
ASOF LEFT JOIN instance_lookup AS i
    ON i.machine = x.machine AND i.pid = x.exec_pid AND x.time >= i.start_time;
