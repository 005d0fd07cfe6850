"""Test and benchmark data: the deterministic workload simulator (a workday on a Mac as a
BSM trail plus a ground-truth sidecar).  Not imported by the runtime package.

    >>> from knox_analytics.testing.workload import generate  # doctest: +SKIP

See :mod:`knox_analytics.testing.workload`.
"""
