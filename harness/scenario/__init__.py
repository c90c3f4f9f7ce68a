"""Scenarios: pytest tests under scenarios/ that prove one feature each on a live cloud.

The pytest plugin (`plugin`, registered through the `pytest11` entry point) resolves the
target once per session and records each result as it finishes (`recorder`); `fixtures`
gives scenarios the cloud, the target, testinfra hosts, waiters, cleanup and resource
makers, and `gate` skips, in a category (`skips`), what the combination or target cannot
run. What a scenario makes is named and tagged with the run id (`resources`, `tags`),
registered for cleanup at creation (`cleanup`), and found again by `matrix cleanup`
(`leftovers`) if a run dies. `waiters` waits on the right thing with backoff and per-target
timeouts; `accounting` counts API requests per scenario; `concurrency` keeps host-wide
scenarios apart when a target's scenarios run in pytest-xdist workers.
"""
