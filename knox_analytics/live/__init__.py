"""Live auditing: the audit pipe device, auditon(2), process tracking, crash-safe capture.

On macOS and FreeBSD the source is ``/dev/auditpipe``; on Linux (development, CI) the same
code reads any file, FIFO or stdin given as ``--source``.  Nothing here imports typer.
"""
