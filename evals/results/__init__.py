"""Reading, measuring and judging run directories: the typed records, the reader, metrics and verdicts."""
