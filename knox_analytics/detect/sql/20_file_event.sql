-- Question: which files were created or written, renamed or linked, by whom (Sigma
-- file_event), and which were touched at all (file_access)?
-- detect_file_access: every record of a file class (fr fw fa fm fc fd cl) with its
-- process; target_filename is the first path, or the second (the new name) for rename,
-- link and symlink; open_flags as in the file_access view.
-- detect_file_event: the successful ones that create or change a file: opens for writing
-- or creating, rename, link, symlink, mkdir, chmod/chown family, truncate, unlink.
CREATE OR REPLACE VIEW detect_file_access AS
SELECT
    time, host,
    login_name(auid, auid_name) AS login_user,
    COALESCE(euid_name, CAST(euid AS VARCHAR)) AS effective_user,
    pid, instance, sid,
    command_path AS image,
    source, "offset", record_id,
    auid, euid, ruid, event_name, success,
    lower(regexp_replace(event_name, '^AUE_', '')) AS operation,
    CASE WHEN event_name IN ('AUE_RENAME', 'AUE_RENAMEAT', 'AUE_LINK', 'AUE_LINKAT',
                             'AUE_SYMLINK', 'AUE_SYMLINKAT')
         THEN COALESCE(paths[2], paths[1]) ELSE paths[1] END AS target_filename,
    CASE WHEN event_name IN ('AUE_RENAME', 'AUE_RENAMEAT', 'AUE_LINK', 'AUE_LINKAT')
         THEN paths[1] END AS source_filename,
    open_flags_of(event_name) AS open_flags,
    opens_for_writing(event_name) AS writes
FROM activity
WHERE is_file_record(event_classes);

CREATE OR REPLACE VIEW detect_file_event AS
SELECT * FROM detect_file_access
WHERE success AND (writes OR operation IN (
    'rename', 'renameat', 'link', 'linkat', 'symlink', 'symlinkat', 'mkdir', 'mkdirat',
    'chmod', 'fchmod', 'fchmodat', 'chown', 'fchown', 'fchownat', 'lchown', 'truncate',
    'ftruncate', 'unlink', 'unlinkat', 'setattrlist', 'exchangedata', 'clonefileat'));
