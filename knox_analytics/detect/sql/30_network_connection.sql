-- Question: which processes opened network connections, to where (Sigma
-- network_connection)?
-- detect_network_connection: one row per inet/inet6 socket of a successful connect,
-- accept, bind or send/recv record; initiated is true for connect/sendto/sendmsg.
CREATE OR REPLACE VIEW detect_network_connection AS
WITH n AS (
    SELECT a.*, unnest(a.sockets) AS s
    FROM activity AS a
    WHERE len(a.sockets) > 0 AND a.success
)
SELECT
    time, host,
    login_name(auid, auid_name) AS login_user,
    COALESCE(euid_name, CAST(euid AS VARCHAR)) AS effective_user,
    pid, instance, sid,
    command_path AS image,
    source, "offset", record_id,
    auid, euid, ruid, event_name,
    lower(regexp_replace(event_name, '^AUE_', '')) AS operation,
    s.remote_addr AS destination_ip, s.remote_port AS destination_port,
    s.local_addr AS source_ip, s.local_port AS source_port,
    event_name IN ('AUE_CONNECT', 'AUE_CONNECTX', 'AUE_SENDTO', 'AUE_SENDMSG') AS initiated
FROM n
WHERE s.path IS NULL AND COALESCE(s.remote_addr, s.local_addr) IS NOT NULL;
