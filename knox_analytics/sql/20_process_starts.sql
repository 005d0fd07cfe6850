-- Question: which process created which, and when?
-- process_starts: every successful fork-family or posix_spawn record that created a
-- process, as (parent pid, child pid): child_pid_of (02_process_events, the rules of
-- bsm/process_events.py), on the record's `machine` (a pid means something only there:
-- knox_analytics/store/machines.py).  A posix_spawn that created no child (POSIX_SPAWN_SETEXEC, an
-- exec in place) starts no process: it is an exec of its subject (execs).
CREATE OR REPLACE VIEW process_starts AS
SELECT * FROM (
    SELECT
        time,
        source,
        "offset",
        event_name AS start_event,
        pid AS ppid,
        child_pid_of(event_name, args, return_value) AS child_pid,
        machine
    FROM records
    WHERE (is_fork_event(event_name) OR is_spawn_event(event_name)) AND success
)
WHERE child_pid IS NOT NULL;
