-- Question: what did every record do (knox's own category bsm_event, for what only the
-- audit trail sees: auditon, audit_control writes, auditd stopping)?
-- detect_bsm_event: every audit record with its process, event name, first path and
-- first text token.
CREATE OR REPLACE VIEW detect_bsm_event AS
SELECT
    time, host,
    login_name(auid, auid_name) AS login_user,
    COALESCE(euid_name, CAST(euid AS VARCHAR)) AS effective_user,
    pid, instance, sid,
    command_path AS image,
    source, "offset", record_id,
    auid, euid, ruid, event_name, event_classes, success,
    paths[1] AS target_filename,
    texts[1] AS text,
    args
FROM activity;
