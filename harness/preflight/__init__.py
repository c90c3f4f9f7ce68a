"""Preflight: is this target really the combination it claims?

Each axis value's `verify` checks become testinfra checks on the target's hosts (by role,
below a host's root for file paths), and its `facts` commands are recorded (versions of nova,
libvirt, qemu...). `checks` is the registry of check kinds, each with its implementation and
description; `runner` runs them per host and never raises for a host it cannot reach: the
checks fail with the error instead. `matrix run` writes the outcome into the run record and
skips a target whose preflight failed unless `--force` (then the run is `unverified`).
"""
