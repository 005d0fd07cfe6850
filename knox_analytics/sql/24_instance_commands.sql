-- Question: which command was each process instance running when it started?
-- instance_commands: for every instance, the command it inherited from its parent (the
-- parent's latest successful exec before the fork; a forked child runs its parent's
-- image until it execs) and its own latest exec, if any.  One level of inheritance:
-- a child of a child that never exec'd inherits nothing.
CREATE OR REPLACE VIEW instance_commands AS
WITH ok AS (
    -- One row per instance and millisecond, the later record winning: a spawn and its
    -- exec can share a millisecond, and "latest" must not depend on an engine's tie order.
    SELECT instance, time, arg_max(paths[1], "offset") AS command_path
    FROM execs WHERE success GROUP BY instance, time
),
own AS (
    SELECT instance, arg_max(command_path, time) AS command_path FROM ok GROUP BY instance
)
SELECT
    i.instance,
    COALESCE(own.command_path, inh.command_path) AS command_path,
    inh.command_path AS inherited_path
FROM process_instances AS i
LEFT JOIN own ON own.instance = i.instance
ASOF LEFT JOIN ok AS inh ON inh.instance = i.parent_instance AND i.start_time >= inh.time;
