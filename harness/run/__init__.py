"""A scenario run: runner, fault schedule, monitor, result, scoring."""
