-- Question: where did this process come from, and what did it start?
-- process_tree(pid): the instances of `pid`, their ancestors (depth < 0) and their
-- descendants (depth > 0), one row per instance with `root` = the instance of `pid` it
-- belongs to.  process_forest([pid, ...]) does the same for several pids at once, and
-- process_forest_of([instance, ...]) for given process instances (a reused pid is
-- another instance: `knox tree --command make` roots only at the instances running make).
-- Example: SELECT * FROM process_tree(1202) ORDER BY root, depth, start_time;
CREATE OR REPLACE MACRO process_forest_of(root_instances) AS TABLE
WITH RECURSIVE
p AS MATERIALIZED (SELECT * FROM processes),
up(root, instance, depth) AS (
    SELECT instance, instance, 0 FROM p WHERE list_contains(root_instances, instance)
    UNION ALL
    SELECT up.root, p.parent_instance, up.depth - 1
    FROM up JOIN p ON p.instance = up.instance
    WHERE p.parent_instance IS NOT NULL
),
down(root, instance, depth) AS (
    SELECT instance, instance, 0 FROM p WHERE list_contains(root_instances, instance)
    UNION ALL
    SELECT down.root, c.instance, down.depth + 1
    FROM down JOIN p AS c ON c.parent_instance = down.instance
),
tree AS (
    SELECT root, instance, depth FROM up
    UNION
    SELECT root, instance, depth FROM down
)
SELECT t.root, t.depth, p.*
FROM tree AS t JOIN p USING (instance)
ORDER BY t.root, t.depth, p.start_time;

CREATE OR REPLACE MACRO process_forest(target_pids) AS TABLE
SELECT * FROM process_forest_of(
    (SELECT coalesce(list(instance), []) FROM processes WHERE list_contains(target_pids, pid)));

CREATE OR REPLACE MACRO process_tree(target_pid) AS TABLE
SELECT * FROM process_forest([target_pid]);
