"""Runs: one execution of scenarios against one target, and its record.

`orchestration` drives `matrix run`: per target (in parallel), preflight, then one pytest
process running the scenarios (`scenario_process`, started ahead by `launcher` and
configuring meanwhile, told to go once the preflight passed),
whose plugin appends each result to the run directory as it finishes, then the end status
and JUnit (`junit`). `records` is the run-directory protocol
and the record format that history ingest validates against; `provenance` says where the
evidence comes from (CI job, kind, voting, versions); `cloud` reads a target's clouds.yaml
entry and connects; `secrets` keeps that entry's secrets out of everything written or shown.
"""
