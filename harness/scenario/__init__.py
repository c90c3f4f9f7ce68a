"""What scenario tests stand on: the target they run against, the cloud connection, waiters,
cleanup, resource helpers and skip categories. The pytest plugin (harness.scenario.plugin)
wires these into fixtures; scenarios themselves live in the top-level scenarios/ folder.
"""
