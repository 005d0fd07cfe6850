-- Question: which process instances existed (a pid that is reused is a new instance)?
-- process_instances: one row per instance, keyed by `instance` = '<pid>@<start ms>'.  An
-- instance starts at the fork/spawn that created it; a pid seen before any such record
-- (it started before the trail did) gets an instance starting at its first record, with
-- no known parent.  The parent instance is the parent pid's instance at the start time.
CREATE OR REPLACE VIEW process_instances AS
WITH first_seen AS (
    SELECT pid, min(time) AS time
    FROM (SELECT pid, time FROM records WHERE pid IS NOT NULL AND header_token <> 17
          UNION ALL
          SELECT child_pid, time FROM process_starts)
    GROUP BY pid
),
starts AS (
    SELECT child_pid AS pid, time AS start_time, start_event, ppid, source, "offset"
    FROM process_starts
    UNION ALL
    SELECT f.pid, f.time, NULL, NULL, NULL, NULL
    FROM first_seen AS f
    WHERE NOT EXISTS (SELECT 1 FROM process_starts AS s
                      WHERE s.child_pid = f.pid AND s.time <= f.time)
),
keyed AS (
    SELECT *, format('{}@{}', pid, epoch_ms(start_time)) AS instance FROM starts
)
SELECT
    c.instance, c.pid, c.start_time, c.start_event, c.ppid, p.instance AS parent_instance,
    c.source, c."offset"
FROM keyed AS c
ASOF LEFT JOIN keyed AS p ON p.pid = c.ppid AND c.start_time >= p.start_time;
