-- The pids whose carried state an epoch's records can read or change: the records' own,
-- the children their forks and spawns name (execs attributes a posix_spawn to its child).
SELECT pid FROM records WHERE pid IS NOT NULL
UNION
SELECT child_pid FROM process_starts WHERE child_pid IS NOT NULL
UNION
SELECT TRY_CAST(list_filter(args, lambda a: a.name = 'child PID')[1].value AS UINTEGER)
FROM records WHERE event_name = 'AUE_POSIX_SPAWN'
