-- Question: which processes existed, who started them, what did they run, how did they end?
-- processes: one row per process instance (pid reuse handled, see process_instances):
-- pid, parent pid and instance, start time and event (fork/spawn; null when it started
-- before the trail), every exec in order (execs: list of {time, path, argv, success}),
-- the command it ended up running (own latest successful exec, else inherited from the
-- parent; a process with no exec known but an AUE_sudo record is `sudo <COMMAND=...>`,
-- the command line sudo's record names), exit time and status, user and session of its
-- last record, and the machine it ran on ('' when the dataset names none; a parent always
-- ran on its child's machine).  An instance
-- carried from earlier data (process_carry) continues its row there and appears here
-- only when these records add to it.
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
    FROM process_events WHERE is_exit_event(event_name) GROUP BY instance
),
who AS (
    SELECT instance, arg_max("user", time) AS "user", arg_max(auid, time) AS auid,
           arg_max(euid, time) AS euid, arg_max(sid, time) AS sid,
           count(*) AS records
    FROM process_events GROUP BY instance
),
sudo AS (  -- exec not audited (class ex off): sudo's own record still names the command
    SELECT instance,
           arg_max(NULLIF(regexp_extract(texts[1], 'COMMAND=(.*)$', 1), ''), time) AS line
    FROM process_events WHERE event_name = 'AUE_sudo' GROUP BY instance
),
was AS (SELECT * FROM process_carry)
SELECT
    i.instance, i.pid, i.ppid, i.parent_instance, i.start_time, i.start_event,
    CASE WHEN sudo.instance IS NOT NULL AND ic.own_path IS NULL
         THEN concat_ws(' ', 'sudo', sudo.line)  -- sudo's record beats an inherited image
         ELSE basename(ic.command_path) END AS command,
    ic.command_path,
    list_concat(COALESCE(was.execs, []), COALESCE(ex.execs, [])) AS execs,
    COALESCE(was.exit_time, ends.exit_time) AS exit_time,
    CASE WHEN was.exit_time IS NULL THEN ends.exit_status ELSE was.exit_status END
        AS exit_status,
    CASE WHEN was.exit_time IS NULL THEN ends.exit_return ELSE was.exit_return END
        AS exit_return,
    CASE WHEN who.instance IS NULL THEN was."user" ELSE who."user" END AS "user",
    CASE WHEN who.instance IS NULL THEN was.auid ELSE who.auid END AS auid,
    CASE WHEN who.instance IS NULL THEN was.euid ELSE who.euid END AS euid,
    CASE WHEN who.instance IS NULL THEN was.sid ELSE who.sid END AS sid,
    COALESCE(was.records, 0) + COALESCE(who.records, 0) AS records,
    i.machine
FROM instance_lookup AS i
LEFT JOIN ex USING (instance)
LEFT JOIN ends USING (instance)
LEFT JOIN who USING (instance)
LEFT JOIN instance_commands AS ic USING (instance)
LEFT JOIN was USING (instance)
LEFT JOIN sudo USING (instance)
WHERE NOT i.carried OR ex.instance IS NOT NULL OR ends.instance IS NOT NULL
   OR who.instance IS NOT NULL;
