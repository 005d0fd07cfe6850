-- Question: which process (instance and command) did each record come from?
-- activity: `process_events` plus the command the instance was running at that moment
-- (its latest successful exec at or before the record, else the command inherited from
-- its parent) as `command_path` and `command` (the base name).
CREATE OR REPLACE VIEW activity AS
WITH ok AS (
    SELECT instance, time, paths[1] AS command_path FROM execs WHERE success
)
SELECT
    e.*,
    COALESCE(x.command_path, ic.inherited_path) AS command_path,
    regexp_extract(COALESCE(x.command_path, ic.inherited_path), '[^/]*$') AS command
FROM process_events AS e
ASOF LEFT JOIN ok AS x ON x.instance = e.instance AND e.time >= x.time
LEFT JOIN instance_commands AS ic ON ic.instance = e.instance;
