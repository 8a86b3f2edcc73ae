"""Pure functions that turn stored facts into answers; no I/O, time passed in."""
