-- Question: which process instances existed (a pid that is reused is a new instance)?
-- process_instances: one row per instance, keyed by `instance` = '<pid>@<start ms>'.  An
-- instance starts at the fork/spawn that created it.  A pid seen with no such record
-- (it started before the trail did, or its creator was not audited) gets an instance
-- starting at its first record, with no known parent; so does a pid seen again after its
-- exit without a new fork/spawn (a reused pid).  The parent instance is the parent pid's
-- instance at the start time.
CREATE OR REPLACE VIEW process_instances AS
WITH exits AS (
    SELECT pid, time FROM records WHERE event_name = 'AUE_EXIT'
),
seen AS (
    SELECT pid, time FROM records WHERE pid IS NOT NULL AND header_token <> 17
),
placed AS (
    SELECT s.pid, s.time, e.time AS last_exit, st.time AS last_start
    FROM seen AS s
    ASOF LEFT JOIN exits AS e ON e.pid = s.pid AND s.time > e.time
    ASOF LEFT JOIN process_starts AS st ON st.child_pid = s.pid AND s.time >= st.time
),
orphans AS (
    -- records that no live instance covers: grouped by the exit that preceded them
    SELECT pid, min(time) AS time
    FROM placed
    WHERE last_start IS NULL OR last_exit > last_start
    GROUP BY pid, last_exit
),
starts AS (
    SELECT child_pid AS pid, time AS start_time, start_event, ppid, source, "offset"
    FROM process_starts
    UNION ALL
    SELECT pid, time, NULL, NULL, NULL, NULL FROM orphans
),
keyed AS (
    SELECT *, format('{}@{}', pid, epoch_ms(start_time)) AS instance FROM starts
)
SELECT
    c.instance, c.pid, c.start_time, c.start_event, c.ppid, p.instance AS parent_instance,
    c.source, c."offset"
FROM keyed AS c
ASOF LEFT JOIN keyed AS p ON p.pid = c.ppid AND c.start_time >= p.start_time;
