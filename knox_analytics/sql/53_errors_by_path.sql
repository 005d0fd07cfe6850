-- Question: which files are behind the failures?
-- errors_by_path: failed records per (first) path: count, distinct errnos and commands.
-- summarize_errors_by_path('<view>') does the same over any relation with the columns of
-- `errors`.
CREATE OR REPLACE MACRO summarize_errors_by_path(src) AS TABLE
SELECT
    path, count(*) AS failures,
    list_sort(list(DISTINCT errno_name)) AS errno_names,
    list_sort(list(DISTINCT command)) AS commands,
    min(time) AS first_time, max(time) AS last_time
FROM query_table(src)
WHERE path IS NOT NULL
GROUP BY path
ORDER BY failures DESC, path;

CREATE OR REPLACE VIEW errors_by_path AS SELECT * FROM summarize_errors_by_path('errors');
