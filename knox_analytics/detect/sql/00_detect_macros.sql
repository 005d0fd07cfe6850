-- Question: what do the detection views share?
-- ipv4_int(addr): a dotted IPv4 address as an integer (NULL for anything else), for the
-- integer ranges a Sigma `cidr` value compiles to.
-- argv_line(argv): the arguments joined by spaces, an empty one written ''.
-- login_name(auid, auid_name): the login user's name, NULL when no one logged in.
CREATE OR REPLACE MACRO ipv4_int(addr) AS
    CASE WHEN regexp_full_match(addr, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}') THEN
        (CAST(split_part(addr, '.', 1) AS BIGINT) << 24)
        + (CAST(split_part(addr, '.', 2) AS BIGINT) << 16)
        + (CAST(split_part(addr, '.', 3) AS BIGINT) << 8)
        + CAST(split_part(addr, '.', 4) AS BIGINT)
    END;

CREATE OR REPLACE MACRO login_name(auid, auid_name) AS
    CASE WHEN auid = unset_uid() THEN NULL ELSE COALESCE(auid_name, CAST(auid AS VARCHAR)) END;

CREATE OR REPLACE MACRO argv_line(argv) AS
    array_to_string(list_transform(argv, lambda a: CASE WHEN a = '' THEN '''''' ELSE a END), ' ');
