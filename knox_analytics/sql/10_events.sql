-- Question: what happened, in readable form?
-- events: every audit record (stand-alone file tokens excluded) with its event name and
-- classes, user names (uid -> name through the `users` table), errno name and text
-- (`errno 255`, `Unknown error: 255` for a number the tables do not name) and success.
-- `user` is the login user (auid) when set, else the effective user: the person behind
-- the record even after sudo/su; `euser` is the effective user (euid) the record ran
-- with (root under sudo), as ausearch -i shows both.  `path` is the first path token.
CREATE OR REPLACE VIEW events AS
SELECT
    r.* EXCLUDE (errno_name),  -- (Spark has no REPLACE: the label is a column below)
    COALESCE(un.name, CAST(COALESCE(NULLIF(r.auid, unset_uid()), r.euid) AS VARCHAR)) AS "user",
    COALESCE(ue.name, CAST(r.euid AS VARCHAR)) AS euser,
    ua.name AS auid_name,
    ue.name AS euid_name,
    ur.name AS ruid_name,
    r.paths[1] AS path,
    errno_label(r.errno_name, r.return_errno) AS errno_name,
    errno_text_of(en.text, r.return_errno) AS errno_text
FROM records AS r
LEFT JOIN users AS un ON un.uid = COALESCE(NULLIF(r.auid, unset_uid()), r.euid)
LEFT JOIN users AS ua ON ua.uid = r.auid
LEFT JOIN users AS ue ON ue.uid = r.euid
LEFT JOIN users AS ur ON ur.uid = r.ruid
LEFT JOIN bsm_errnos AS en ON en.errno = r.return_errno
WHERE NOT is_file_token(r.header_token);
