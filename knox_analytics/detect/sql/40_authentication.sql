-- Question: who tried to log in, su, sudo or authenticate, and did it work (Sigma
-- authentication)?
-- detect_authentication: the logins view (classes lo, aa) with the alert columns;
-- target_user is the effective user the attempt asked for (su/sudo: 0 = root),
-- source_ip the terminal address, operation the event without AUE_.
CREATE OR REPLACE VIEW detect_authentication AS
SELECT
    e.time, e.host,
    COALESCE(login_name(e.auid, e.auid_name), e.ruid_name, CAST(e.ruid AS VARCHAR))
        AS login_user,
    COALESCE(e.euid_name, CAST(e.euid AS VARCHAR)) AS effective_user,
    e.pid, CAST(NULL AS VARCHAR) AS instance, e.sid,
    CAST(NULL AS VARCHAR) AS image,
    e.source, e."offset", e.record_id,
    e.auid, e.euid, e.ruid, e.event_name, e.success,
    COALESCE(e.euid_name, CAST(e.euid AS VARCHAR)) AS target_user,
    e.tid_addr AS source_ip,
    lower(regexp_replace(e.event_name, '^AUE_', '')) AS operation,
    e.texts[1] AS text
FROM events AS e
WHERE list_has_any(string_split(e.event_classes, ','), ['lo', 'aa']);
