-- Question: what did each record do, and which command did it?
-- activity: `events` plus `instance`, `command_path` and `command` (the base name) of
-- the process that wrote it (record_process).
CREATE OR REPLACE VIEW activity AS
SELECT
    e.*, rp.instance, rp.command_path,
    basename(rp.command_path) AS command
FROM events AS e
LEFT JOIN record_process AS rp
    -- (source, offset) alone is not a record in a dataset: two trails named `current`
    ON rp.source = e.source AND rp."offset" = e."offset"
    AND rp.record_id IS NOT DISTINCT FROM e.record_id;
