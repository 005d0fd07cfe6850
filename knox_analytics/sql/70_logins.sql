-- Question: who logged in or out, switched user or asked for authorisation, from where?
-- logins: every record of class lo (login/logout, su, sudo, ssh, screensaver) or aa
-- (authorisation/authentication): user, terminal (port and address), operation, the first
-- text token (e.g. sudo's command line), outcome.
-- `user` is the login user (auid) when set, else the REAL user: su and sudo run setuid
-- root, so with the audit user unset (4294967295, e.g. before a login session) the
-- effective uid is 0 and would name root for an attempt made by someone else.
CREATE OR REPLACE VIEW logins AS
SELECT
    e.time,
    COALESCE(u.name, CAST(COALESCE(NULLIF(e.auid, unset_uid()), e.ruid, e.euid) AS VARCHAR))
        AS "user",
    e.euser,
    e.auid, e.auid_name, e.euid, e.euid_name, e.ruid, e.pid, e.sid,
    e.tid_port, e.tid_addr,
    lower(regexp_replace(e.event_name, '^AUE_', '')) AS operation, e.event_name,
    e.event_classes,
    e.texts[1] AS text, e.texts,
    e.success, e.return_errno, e.errno_name, e.errno_text, e.source, e."offset",
    e.record_id
FROM events AS e
LEFT JOIN users AS u ON u.uid = COALESCE(NULLIF(e.auid, unset_uid()), e.ruid, e.euid)
WHERE list_has_any(string_split(e.event_classes, ','), ['lo', 'aa']);
