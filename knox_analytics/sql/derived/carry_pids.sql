-- The pids whose carried state an epoch's records can read or change: the records' own,
-- the children their forks and spawns name, and the pids their execs run in (execs
-- attributes a posix_spawn to its child, even a failed one naming it).
SELECT machine, pid FROM records WHERE pid IS NOT NULL
UNION
SELECT machine, child_pid FROM process_starts
UNION
SELECT machine, exec_pid_of(event_name, args, pid, success)
FROM records WHERE is_spawn_event(event_name)
