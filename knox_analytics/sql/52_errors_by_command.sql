-- Question: which programs fail most, and how?
-- errors_by_command: failed records per command: count, distinct errnos (names, sorted),
-- distinct paths, first and last time.  summarize_errors_by_command('<view>') does the
-- same over any relation with the columns of `errors`.
CREATE OR REPLACE MACRO summarize_errors_by_command(src) AS TABLE
SELECT
    command, count(*) AS failures,
    list_sort(list(DISTINCT errno_name)) AS errno_names,
    count(DISTINCT path) AS paths, min(time) AS first_time, max(time) AS last_time
FROM query_table(src)
GROUP BY command
ORDER BY failures DESC, command;

CREATE OR REPLACE VIEW errors_by_command AS
SELECT * FROM summarize_errors_by_command('errors');
