-- Question: who logged in or out, switched user or asked for authorisation, from where?
-- logins: every record of class lo (login/logout, su, sudo, ssh, screensaver) or aa
-- (authorisation/authentication): user, terminal (port and address), operation, the first
-- text token (e.g. sudo's command line), outcome.
CREATE OR REPLACE VIEW logins AS
SELECT
    time, "user", auid, auid_name, euid, euid_name, ruid, pid, sid,
    tid_port, tid_addr,
    lower(regexp_replace(event_name, '^AUE_', '')) AS operation, event_name, event_classes,
    texts[1] AS text, texts,
    success, return_errno, errno_name, errno_text, source, "offset"
FROM events
WHERE list_has_any(string_split(event_classes, ','), ['lo', 'aa']);
