-- Question: which errors happen most?
-- errors_by_errno: failed records per errno: count, distinct events/commands/paths, first
-- and last time.
CREATE OR REPLACE VIEW errors_by_errno AS
SELECT
    errno, errno_name, any_value(errno_text) AS errno_text, count(*) AS failures,
    count(DISTINCT event_name) AS events, count(DISTINCT command) AS commands,
    count(DISTINCT path) AS paths, min(time) AS first_time, max(time) AS last_time
FROM errors
GROUP BY errno, errno_name;
