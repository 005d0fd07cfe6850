"""The exit codes of every command (README: "Exit status, one rule for every command").

A module of constants with no imports: ``knox`` must be able to exit 130 on a Ctrl-C that
arrives while it is still importing its libraries.
"""

#: done; error; bad usage; done, but damaged byte ranges were skipped; ``knox detect
#: --fail-on`` raised an alert at or above its level; interrupted (Ctrl-C, as shells
#: count it).
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DAMAGED, EXIT_ALERTED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
