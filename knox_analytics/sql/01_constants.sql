-- Question: what do BSM's magic values mean (named once, used by every view)?
-- unset_uid(): the audit user id of a process no one logged in to (praudit prints -1).
-- is_file_token(header_token): the row is a stand-alone file token (0x11, a trail's
-- opening or closing mark), not an audit record.
-- basename(path): the last component of a path (the command name of an executable).
CREATE OR REPLACE MACRO unset_uid() AS 4294967295;

CREATE OR REPLACE MACRO is_file_token(header_token) AS header_token = 17;

CREATE OR REPLACE MACRO basename(path) AS regexp_extract(path, '[^/]*$');
