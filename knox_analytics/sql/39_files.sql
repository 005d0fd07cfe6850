-- Question: is a record a file access, and which open(2) flags does its event name encode?
-- open_flags_of(e): AUE_OPEN_RWTC -> 'O_RDWR|O_CREAT|O_TRUNC' (audit_event spells the
-- access mode, then T(runc), then C(reat)); NULL for any other event.
-- opens_for_writing(e): the event opens a file for writing, creating or truncating it.
-- is_file_record(classes): a record of a file class (fr fw fa fm fc fd cl).
CREATE OR REPLACE MACRO open_flags_of(e) AS
    CASE WHEN regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 3) <> '' THEN
        concat_ws('|',
            CASE regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 3)
                WHEN 'R' THEN 'O_RDONLY' WHEN 'W' THEN 'O_WRONLY' ELSE 'O_RDWR' END,
            CASE WHEN regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 5) = 'C' THEN 'O_CREAT' END,
            CASE WHEN regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 4) = 'T' THEN 'O_TRUNC' END)
    END;

CREATE OR REPLACE MACRO opens_for_writing(e) AS
    regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 3) IN ('W', 'RW')
    OR regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 5) = 'C'
    OR regexp_extract(e, '^AUE_OPEN(AT)?(_EXTENDED)?_(RW|R|W)(T?)(C?)$', 4) = 'T';

CREATE OR REPLACE MACRO is_file_record(classes) AS
    list_has_any(string_split(classes, ','), ['fr', 'fw', 'fa', 'fm', 'fc', 'fd', 'cl']);
