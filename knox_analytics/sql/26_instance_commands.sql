-- Question: which command was each process instance running when it started?
-- instance_commands: for every instance, the command it inherited from its parent (the
-- parent's latest successful exec before the fork; a forked child runs its parent's
-- image until it execs) and its own latest exec, if any (own_path).  One level of inheritance:
-- a child of a child that never exec'd inherits nothing.  Carried instances
-- (process_carry) keep the command they inherited when they started.
CREATE OR REPLACE VIEW instance_commands AS
WITH own AS (
    SELECT instance, arg_max(command_path, time) AS command_path
    FROM exec_successes GROUP BY instance
)
SELECT
    i.instance,
    COALESCE(own.command_path, inh.command_path) AS command_path,
    inh.command_path AS inherited_path,
    own.command_path AS own_path
FROM process_instances AS i
LEFT JOIN own ON own.instance = i.instance
ASOF LEFT JOIN exec_successes AS inh
    ON inh.instance = i.parent_instance AND i.start_time >= inh.time
UNION ALL
SELECT c.instance, COALESCE(own.command_path, c.inherited_path), c.inherited_path,
       own.command_path
FROM process_carry AS c
LEFT JOIN own ON own.instance = c.instance;
