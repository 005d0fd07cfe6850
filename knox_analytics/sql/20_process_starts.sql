-- Question: which process created which, and when?
-- process_starts: every successful fork-family or posix_spawn record, as (parent pid,
-- child pid).  The child pid is the "child PID" argument token (macOS fork/vfork/spawn)
-- or, for forks without it, the return value (fork(2) returns the child's pid).
CREATE OR REPLACE VIEW process_starts AS
SELECT
    time,
    source,
    "offset",
    event_name AS start_event,
    pid AS ppid,
    CAST(COALESCE(
        list_filter(args, lambda a: a.name = 'child PID')[1].value,
        CASE WHEN event_name <> 'AUE_POSIX_SPAWN' THEN return_value END
    ) AS UINTEGER) AS child_pid
FROM records
WHERE event_name IN ('AUE_FORK', 'AUE_VFORK', 'AUE_FORK1', 'AUE_RFORK', 'AUE_PDFORK',
                     'AUE_POSIX_SPAWN')
  AND success;
