-- Question: which process instance wrote each record?
-- process_events: `events` plus `instance` (see process_instances): the latest instance
-- of the record's pid that started at or before the record.
CREATE OR REPLACE VIEW process_events AS
SELECT e.*, i.instance
FROM events AS e
ASOF LEFT JOIN instance_lookup AS i
    ON i.machine = e.machine AND i.pid = e.pid AND e.time >= i.start_time;
