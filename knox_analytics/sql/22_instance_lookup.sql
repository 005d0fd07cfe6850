-- Question: which instances can a record be attributed to?
-- instance_lookup: process_instances plus the instances carried from earlier data
-- (process_carry; `carried` = true), for the as-of joins that find a record's instance:
-- the latest instance of its pid that started at or before it.
CREATE OR REPLACE VIEW instance_lookup AS
SELECT *, false AS carried FROM process_instances
UNION ALL
SELECT instance, pid, start_time, start_event, ppid, parent_instance, source, "offset",
       machine, true
FROM process_carry;
