-- Question: which process (instance and command) did each record come from?
-- record_process: per record (source, offset), its process instance and the command the
-- instance was running at that moment (its latest successful exec at or before the
-- record, else the command inherited from its parent).  Materialised once per dataset.
-- activity: `events` plus `instance`, `command_path` and `command` (the base name).
CREATE OR REPLACE VIEW record_process AS
WITH ok AS (
    -- One row per instance and millisecond, the later record winning: a spawn and its
    -- exec can share a millisecond, and "latest" must not depend on an engine's tie order.
    SELECT instance, time, arg_max(paths[1], "offset") AS command_path
    FROM execs WHERE success GROUP BY instance, time
)
SELECT
    e.source, e."offset", e.instance,
    COALESCE(x.command_path, ic.inherited_path) AS command_path
FROM process_events AS e
ASOF LEFT JOIN ok AS x ON x.instance = e.instance AND e.time >= x.time
LEFT JOIN instance_commands AS ic ON ic.instance = e.instance;

CREATE OR REPLACE VIEW activity AS
SELECT
    e.*, rp.instance, rp.command_path,
    regexp_extract(rp.command_path, '[^/]*$') AS command
FROM events AS e
LEFT JOIN record_process AS rp ON rp.source = e.source AND rp."offset" = e."offset";
