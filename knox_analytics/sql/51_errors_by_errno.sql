-- Question: which errors happen most?
-- errors_by_errno: failed records per errno: count, distinct events/commands/paths, first
-- and last time.  summarize_errors_by_errno('<view>') does the same over any relation
-- with the columns of `errors` (knox errors --by errno uses it on filtered errors).
CREATE OR REPLACE MACRO summarize_errors_by_errno(src) AS TABLE
SELECT
    errno, errno_name, any_value(errno_text) AS errno_text, count(*) AS failures,
    count(DISTINCT event_name) AS events, count(DISTINCT command) AS commands,
    count(DISTINCT path) AS paths, min(time) AS first_time, max(time) AS last_time
FROM query_table(src)
GROUP BY errno, errno_name
ORDER BY failures DESC, errno_name;

CREATE OR REPLACE VIEW errors_by_errno AS SELECT * FROM summarize_errors_by_errno('errors');
