"""Tempest beside the harness: the peer suite as a cross-check and as evidence.

- environment: Tempest's own virtualenv, pinned with the lab's OpenStack release.
- config: a tempest.conf for one target, from the lab file, its cloud and the combination.
- selection: which Tempest tests prove which feature (features.yaml's idempotent ids).
- results: Tempest's output (subunit v2, or JUnit from subunit2junitxml) read into per-test
  outcomes, and those made a run record the history ingests like any other (source tempest).
- runner: `tempest run` in a work directory for one target.
- agreement: Tempest's outcome per feature beside the harness's own on the same target.
"""
