-- Question: which processes were created, from which image and parent (Sigma
-- process_creation)?
-- detect_process_creation: one row per successful exec (execve, posix_spawn, ...): the
-- image and argv joined by spaces (CommandLine, as macOS endpoint tools show it; an
-- empty argument shows as '' so that it does not look like a trailing space), the
-- parent instance's image, command line and euid (parent_euid) at that moment (its
-- latest successful exec before, else the image it inherited; parent_euid is NULL then),
-- the code-signing identity when recorded.
CREATE OR REPLACE VIEW detect_process_creation AS
WITH x AS (
    SELECT x.*, il.parent_instance
    FROM execs AS x
    LEFT JOIN instance_lookup AS il ON il.instance = x.instance
    WHERE x.success
),
parent_execs AS (
    SELECT instance, time, paths[1] AS image, argv, euid FROM execs WHERE success
)
SELECT
    x.time, x.host,
    login_name(x.auid, x.auid_name) AS login_user,
    COALESCE(x.euid_name, CAST(x.euid AS VARCHAR)) AS effective_user,
    x.exec_pid AS pid,
    COALESCE(x.spawner_pid, x.instance_ppid) AS ppid,
    x.instance, x.parent_instance, x.sid,
    x.paths[1] AS image,
    argv_line(x.argv) AS command_line,
    x.source, x."offset", x.record_id,
    x.auid, x.euid, x.ruid, x.event_name, pe.euid AS parent_euid,
    COALESCE(pe.image, pc.inherited_path) AS parent_image,
    argv_line(pe.argv) AS parent_command_line,
    x.identity.signing_id AS signing_id,
    x.identity.team_id AS team_id
FROM x
ASOF LEFT JOIN parent_execs AS pe ON pe.instance = x.parent_instance AND x.time >= pe.time
LEFT JOIN instance_commands AS pc ON pc.instance = x.instance;
