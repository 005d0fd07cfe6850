-- Question: which commands ran, when, as whom, from which parent, and did they succeed?
-- commands: one row per exec (execve, mac_execve, fexecve, posix_spawn): the process that
-- runs the image (pid, instance) and its parent (ppid: the spawner for posix_spawn, the
-- forking parent for execve), users with names, the executable path (first path token),
-- argv as a list and as a shell-quoted command line (as Python's shlex.join), env if
-- recorded, outcome.  `knox commands` prints this view.
CREATE OR REPLACE VIEW commands AS
SELECT
    x.time,
    x.exec_pid AS pid,
    COALESCE(x.spawner_pid, x.instance_ppid) AS ppid,
    x.instance,
    x."user",
    COALESCE(x.euid_name, CAST(x.euid AS VARCHAR)) AS euser,  -- effective: root under sudo
    x.auid, x.auid_name, x.euid, x.euid_name, x.ruid, x.ruid_name, x.egid, x.rgid,
    x.sid, x.tid_port, x.tid_addr,
    x.event_name,
    x.event_classes,
    x.paths[1] AS path,
    x.paths[1] AS command_path,
    COALESCE(basename(x.paths[1]), x.argv[1]) AS command,
    x.argv,
    array_to_string(list_transform(x.argv, lambda a:
        CASE WHEN regexp_full_match(a, '[A-Za-z0-9_@%+=:,./-]+') THEN a
             ELSE '''' || replace(a, '''', '''"''"''') || '''' END), ' ') AS command_line,
    x.envp,
    x.success,
    x.return_errno,
    x.errno_name,
    x.errno_text,
    x.source,
    x."offset",
    x.record_id
FROM execs AS x;
