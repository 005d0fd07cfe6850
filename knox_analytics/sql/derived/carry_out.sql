-- The carry an epoch leaves (the columns of the process_carry view, 19_process_carry.sql):
-- per (machine, pid) the latest instance among the carried and the new ones, with its processes row
-- (this epoch's when it added to the instance, else the carried one).  Only an instance
-- later records can still reach keeps that row: one not known to have ended, or whose
-- pid's last start is not before its last exit (a fork and an exit in one millisecond).
-- Of any other instance a later record of its pid starts a new instance
-- (process_instances), so its row is final: the carry keeps just what a child or a reused
-- pid needs (its key, start, parent, commands).
WITH latest AS (
    SELECT * FROM instance_lookup WHERE pid IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY machine, pid ORDER BY start_time DESC, carried) = 1
),
exits AS (
    SELECT machine, pid, max(time) AS last_exit FROM (
        SELECT machine, pid, time FROM records WHERE is_exit_event(event_name)
        UNION ALL SELECT machine, pid, last_exit FROM process_carry) GROUP BY machine, pid
),
born AS (
    SELECT machine, pid, max(time) AS last_start FROM (
        SELECT machine, child_pid AS pid, time FROM process_starts
        UNION ALL SELECT machine, pid, last_start FROM process_carry) GROUP BY machine, pid
),
oks AS (
    SELECT instance, max(time) AS ok_time, arg_max(command_path, time) AS ok_path
    FROM exec_successes GROUP BY instance
),
carry AS (
    SELECT
        l.pid, x.last_exit, b.last_start, l.instance, l.start_time, l.start_event, l.ppid,
        l.parent_instance, l.source, l."offset", ic.inherited_path, o.ok_time, o.ok_path,
        CASE WHEN p.instance IS NULL THEN c.execs ELSE p.execs END AS execs,
        CASE WHEN p.instance IS NULL THEN c.exit_time ELSE p.exit_time END AS exit_time,
        CASE WHEN p.instance IS NULL THEN c.exit_status ELSE p.exit_status END AS exit_status,
        CASE WHEN p.instance IS NULL THEN c.exit_return ELSE p.exit_return END AS exit_return,
        CASE WHEN p.instance IS NULL THEN c."user" ELSE p."user" END AS "user",
        CASE WHEN p.instance IS NULL THEN c.auid ELSE p.auid END AS auid,
        CASE WHEN p.instance IS NULL THEN c.euid ELSE p.euid END AS euid,
        CASE WHEN p.instance IS NULL THEN c.sid ELSE p.sid END AS sid,
        CASE WHEN p.instance IS NULL THEN c.records ELSE p.records END AS records,
        (l.start_event IS NULL AND (x.last_exit IS NULL OR l.start_time > x.last_exit))
        OR (b.last_start IS NOT NULL AND (x.last_exit IS NULL OR x.last_exit <= b.last_start))
            AS reachable,
        l.machine
    FROM latest AS l
    LEFT JOIN exits AS x ON x.machine = l.machine AND x.pid = l.pid
    LEFT JOIN born AS b ON b.machine = l.machine AND b.pid = l.pid
    LEFT JOIN oks AS o ON o.instance = l.instance
    LEFT JOIN instance_commands AS ic ON ic.instance = l.instance
    LEFT JOIN processes AS p ON p.instance = l.instance
    LEFT JOIN process_carry AS c ON c.instance = l.instance
)
SELECT * EXCLUDE (reachable, execs, exit_time, exit_status, exit_return, "user", auid,
                  euid, sid, records),
    CASE WHEN reachable THEN execs END AS execs,
    CASE WHEN reachable THEN exit_time END AS exit_time,
    CASE WHEN reachable THEN exit_status END AS exit_status,
    CASE WHEN reachable THEN exit_return END AS exit_return,
    CASE WHEN reachable THEN "user" END AS "user",
    CASE WHEN reachable THEN auid END AS auid,
    CASE WHEN reachable THEN euid END AS euid,
    CASE WHEN reachable THEN sid END AS sid,
    CASE WHEN reachable THEN records END AS records
FROM carry
