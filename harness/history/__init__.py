"""History: every run record ever ingested, in SQLite, and the evidence read from it.

`database` owns the schema (runs, results, facts; WAL; a checked schema version) and opens
the file; `store` is ingest: run directories found in folders and archives, records validated
whole, one transaction per run, idempotent by run id; `archives` unpacks tarballs and zip
files (what CI engines hand a publish job) safely and within bounds. `evidence` reads it back
in one streamed pass in run order and says what counts: runs whose preflight failed or was
skipped, forced runs, and embedded-lab runs of real combinations count for nothing (each
counted with its reason), and skips are not evidence except flagged ones. Runs of source
tempest are read apart: they are the cell's Tempest evidence, for the `tempest` criterion alone.
"""
