"""The embedded-lab cell server: runs inside the lab venv; the harness never imports this package.

server.py is started as a script by the lab venv's python (harness/lab/control.py starts it);
it is the only code in the project that imports nova.
"""
