-- Question: what do BSM's magic values mean (named once, used by every view)?
-- unset_uid(): the audit user id of a process no one logged in to (praudit prints -1).
-- is_file_token(header_token): the row is a stand-alone file token (0x11, a trail's
-- opening or closing mark), not an audit record.
-- basename(path): the last component of a path (the command name of an executable).
-- errno_label(name, errno): a failure's BSM errno name, or `errno N` for a number the
-- errno table does not name (macOS's user-space auth events write 255), so no failure
-- shows a blank name; errno_text_of(text, errno): its text, else praudit's
-- `Unknown error: N` for such a number.  Both null on success (errno 0).
-- instance_key(pid, start_ms, machine): the key of a process instance (a reused pid is
-- another instance), '<pid>@<start ms>', with '@<machine>' after it on a named machine;
-- null without a start.  Its one home: knox tree composes the keys it shows with it.
CREATE OR REPLACE MACRO unset_uid() AS 4294967295;

CREATE OR REPLACE MACRO is_file_token(header_token) AS header_token = 17;

CREATE OR REPLACE MACRO basename(path) AS regexp_extract(path, '[^/]*$');

CREATE OR REPLACE MACRO errno_label(name, errno) AS
    CASE WHEN errno <> 0 THEN COALESCE(CAST(name AS VARCHAR), 'errno ' || errno) END;

CREATE OR REPLACE MACRO errno_text_of(text, errno) AS
    CASE WHEN errno <> 0 THEN COALESCE(text, 'Unknown error: ' || errno) END;

CREATE OR REPLACE MACRO instance_key(pid, start_ms, machine) AS  -- (in parentheses for sqlglot)
    (format('{}@{}', pid, start_ms) || CASE WHEN machine = '' THEN '' ELSE '@' || machine END);
