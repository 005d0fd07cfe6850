-- Question: which process (instance and command) did each record come from?
-- record_process: per record (source, offset and, in a dataset, record_id), its process instance and the command the
-- instance was running at that moment (its latest successful exec at or before the
-- record, else the command inherited from its parent).  Materialised with the dataset.
CREATE OR REPLACE VIEW record_process AS
SELECT
    e.source, e."offset", e.record_id, e.instance,
    COALESCE(x.command_path, ic.inherited_path) AS command_path
FROM process_events AS e
ASOF LEFT JOIN exec_successes AS x ON x.instance = e.instance AND e.time >= x.time
LEFT JOIN instance_commands AS ic ON ic.instance = e.instance;
