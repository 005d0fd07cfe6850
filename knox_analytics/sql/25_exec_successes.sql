-- Question: which image was each process instance running from when on?
-- exec_successes: one row per instance and millisecond with a successful exec, the later
-- record winning (a spawn and its exec can share a millisecond, and "latest" must not
-- depend on an engine's tie order): `command_path` is the image's path.  The carried
-- instances' latest successful exec before these records (process_carry) is included.
CREATE OR REPLACE VIEW exec_successes AS
SELECT instance, time, arg_max(paths[1], "offset") AS command_path
FROM execs WHERE success GROUP BY instance, time
UNION ALL
SELECT instance, ok_time, ok_path FROM process_carry WHERE ok_time IS NOT NULL;
