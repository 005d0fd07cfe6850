-- Question: which files did each process touch, how, and did it work?
-- file_access: every record of a file event (classes fr fw fa fm fc fd cl): time, process
-- instance, pid and command, operation (event name without AUE_, lower case), path and,
-- for renames/links, the second path (path2), the open(2) flags the event name encodes
-- (AUE_OPEN_RWTC = O_RDWR|O_CREAT|O_TRUNC), outcome.
CREATE OR REPLACE VIEW file_access AS
WITH f AS (
    SELECT *,
           -- audit_event spells the flags access mode, then T(runc), then C(reat)
           regexp_extract(event_name, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 3) AS acc,
           regexp_extract(event_name, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 4) AS trn,
           regexp_extract(event_name, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 5) AS cre
    FROM activity
    WHERE list_has_any(string_split(event_classes, ','),
                       ['fr', 'fw', 'fa', 'fm', 'fc', 'fd', 'cl'])
)
SELECT
    time, instance, pid, command, command_path, "user", euser, auid, euid,
    lower(regexp_replace(event_name, '^AUE_', '')) AS operation,
    event_name, event_classes,
    paths[1] AS path,
    paths[2] AS path2,
    CASE WHEN acc <> '' THEN
        concat_ws('|',
            CASE acc WHEN 'R' THEN 'O_RDONLY' WHEN 'W' THEN 'O_WRONLY' ELSE 'O_RDWR' END,
            CASE WHEN cre = 'C' THEN 'O_CREAT' END,
            CASE WHEN trn = 'T' THEN 'O_TRUNC' END)
    END AS open_flags,
    success, return_errno, errno_name, errno_text, return_value,
    source, "offset"
FROM f;
