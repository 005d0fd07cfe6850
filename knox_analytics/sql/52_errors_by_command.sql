-- Question: which programs fail most, and how?
-- errors_by_command: failed records per command: count, distinct errnos (names, sorted),
-- distinct paths, first and last time.
CREATE OR REPLACE VIEW errors_by_command AS
SELECT
    command, count(*) AS failures,
    list_sort(list(DISTINCT errno_name)) AS errno_names,
    count(DISTINCT path) AS paths, min(time) AS first_time, max(time) AS last_time
FROM errors
GROUP BY command;
