"""Live auditing: the audit pipe device, class expressions, auditon(2), crash-safe capture.

On macOS and FreeBSD the source is ``/dev/auditpipe``; on Linux (development, CI) the same
code reads any file, FIFO or stdin given as ``--source``.  Nothing here imports typer.
"""
