"""The ``knox`` command line: thin wrappers that parse, call one library function, render."""
