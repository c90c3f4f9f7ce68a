"""Scenarios get their fixtures from the harness plugin (harness.scenario.fixtures): cloud, target,
hosts, wait, cleanup, make, run_id. Run them with:

    pytest scenarios/ --lab .lab/lab.yaml --combination fake-live-migrate/fake-local/fake-neutron
"""
