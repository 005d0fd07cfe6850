-- Question: which processes talked to the network, to where, and did it work?
-- network: one row per socket token of a network record (class nt, or any record with a
-- socket token): local/remote address and port, family (inet, inet6, unix; from the
-- address form, since socket_ex, sock_inet32 and sock_inet128 encode it differently),
-- process instance, pid and command, operation, outcome.
CREATE OR REPLACE VIEW network AS
WITH n AS (
    SELECT a.*, unnest(COALESCE(a.sockets, [NULL])) AS s
    FROM activity AS a
    WHERE list_contains(string_split(a.event_classes, ','), 'nt') OR len(a.sockets) > 0
)
SELECT
    time, instance, pid, command, command_path, "user", euser, auid, euid,
    lower(regexp_replace(event_name, '^AUE_', '')) AS operation, event_name,
    CASE WHEN s.path IS NOT NULL THEN 'unix'
         WHEN contains(COALESCE(s.remote_addr, s.local_addr), ':') THEN 'inet6'
         WHEN COALESCE(s.remote_addr, s.local_addr) IS NOT NULL THEN 'inet'
    END AS family,
    s.local_addr, s.local_port, s.remote_addr, s.remote_port, s.path AS socket_path,
    success, return_errno, errno_name, errno_text, source, "offset", record_id
FROM n;
