-- Question: which files are behind the failures?
-- errors_by_path: failed records per (first) path: count, distinct errnos and commands.
CREATE OR REPLACE VIEW errors_by_path AS
SELECT
    path, count(*) AS failures,
    list_sort(list(DISTINCT errno_name)) AS errno_names,
    list_sort(list(DISTINCT command)) AS commands,
    min(time) AS first_time, max(time) AS last_time
FROM errors
WHERE path IS NOT NULL
GROUP BY path;
