"""The lab's Keystone process (server.py), run by the lab's virtualenv, never imported by the
harness: harness/lab/keystone.py starts and stops it."""
