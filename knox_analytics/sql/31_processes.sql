-- Question: which processes existed, who started them, what did they run, how did they end?
-- processes: one row per process instance (pid reuse handled, see process_instances):
-- pid, parent pid and instance, start time and event (fork/spawn; null when it started
-- before the trail), every exec in order (execs: list of {time, path, argv, success}),
-- the command it ended up running (own latest successful exec, else inherited from the
-- parent), exit time and status, user and session of its last record.
CREATE OR REPLACE VIEW processes AS
WITH ex AS (
    SELECT instance,
           list({'time': time, 'path': path, 'argv': argv, 'success': success}
                ORDER BY time, "offset") AS execs
    FROM commands WHERE instance IS NOT NULL GROUP BY instance
),
ends AS (
    SELECT instance, min(time) AS exit_time, arg_min(exit_status, time) AS exit_status,
           arg_min(exit_return, time) AS exit_return
    FROM process_events WHERE event_name = 'AUE_EXIT' GROUP BY instance
),
who AS (
    SELECT instance, arg_max("user", time) AS "user", arg_max(auid, time) AS auid,
           arg_max(euid, time) AS euid, arg_max(sid, time) AS sid,
           count(*) AS records
    FROM process_events GROUP BY instance
)
SELECT
    i.instance, i.pid, i.ppid, i.parent_instance, i.start_time, i.start_event,
    regexp_extract(ic.command_path, '[^/]*$') AS command,
    ic.command_path,
    COALESCE(ex.execs, []) AS execs,
    ends.exit_time, ends.exit_status, ends.exit_return,
    who."user", who.auid, who.euid, who.sid, COALESCE(who.records, 0) AS records
FROM process_instances AS i
LEFT JOIN ex USING (instance)
LEFT JOIN ends USING (instance)
LEFT JOIN who USING (instance)
LEFT JOIN instance_commands AS ic USING (instance);
