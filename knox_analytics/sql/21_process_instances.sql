-- Question: which process instances existed (a pid that is reused is a new instance)?
-- process_instances: one row per instance, keyed by `instance` = '<pid>@<start ms>', with
-- '@<machine>' after it on a named machine (instance_key(); pids are per machine: every
-- join below is on the machine as well: knox_analytics/store/machines.py).  An instance
-- starts at the fork/spawn that created it.  A pid seen with no such record
-- (it started before the trail did, or its creator was not audited) gets an instance
-- starting at its first record, with no known parent; so does a pid seen again after its
-- exit without a new fork/spawn (a reused pid).  The parent instance is the parent pid's
-- instance at the start time.  Earlier data (process_carry, empty unless the records are
-- a later slice of a dataset) seeds the as-of joins: its pids' latest exit and start, its
-- instance still open to new records, and its latest instances as possible parents;
-- instances it holds are not repeated.
CREATE OR REPLACE VIEW process_instances AS
WITH exits AS (
    SELECT machine, pid, time FROM records WHERE is_exit_event(event_name)
    UNION ALL
    SELECT machine, pid, last_exit FROM process_carry WHERE last_exit IS NOT NULL
),
born AS (
    SELECT machine, child_pid, time FROM process_starts
    UNION ALL
    SELECT machine, pid, last_start FROM process_carry WHERE last_start IS NOT NULL
),
seen AS (
    SELECT machine, pid, time, false AS carried
    FROM records WHERE pid IS NOT NULL AND NOT is_file_token(header_token)
    UNION ALL
    -- a carried instance that began without a start record, after the pid's last exit:
    -- later records of the pid belong to it, not to a new instance
    SELECT machine, pid, start_time, true FROM process_carry
    WHERE start_event IS NULL AND (last_exit IS NULL OR start_time > last_exit)
),
placed AS (
    SELECT s.machine, s.pid, s.time, s.carried, e.time AS last_exit, st.time AS last_start
    FROM seen AS s
    ASOF LEFT JOIN exits AS e ON e.machine = s.machine AND e.pid = s.pid AND s.time > e.time
    ASOF LEFT JOIN born AS st
        ON st.machine = s.machine AND st.child_pid = s.pid AND s.time >= st.time
),
orphans AS (
    -- records that no live instance covers: grouped by the exit that preceded them
    SELECT machine, pid, min(time) AS time
    FROM placed
    WHERE last_start IS NULL OR last_exit > last_start
    GROUP BY machine, pid, last_exit
    HAVING NOT bool_or(carried)
),
starts AS (
    SELECT machine, child_pid AS pid, time AS start_time, start_event, ppid, source, "offset"
    FROM process_starts
    UNION ALL
    SELECT machine, pid, time, NULL, NULL, NULL, NULL FROM orphans
),
keyed AS (
    SELECT *, instance_key(pid, epoch_ms(start_time), machine) AS instance,
        false AS carried
    FROM starts
    UNION ALL
    SELECT machine, pid, start_time, start_event, ppid, source, "offset", instance, true
    FROM process_carry
)
SELECT
    c.instance, c.pid, c.start_time, c.start_event, c.ppid, p.instance AS parent_instance,
    c.source, c."offset", c.machine
FROM keyed AS c
ASOF LEFT JOIN keyed AS p
    ON p.machine = c.machine AND p.pid = c.ppid AND c.start_time >= p.start_time
WHERE NOT c.carried;
