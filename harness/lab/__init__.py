"""The embedded lab: real Nova with fake virt drivers, one process per cell on 127.0.0.1.

The harness never imports nova: `environment` builds the lab's own virtualenv, `cells` reads
which cells a lab file asks for, `control` starts and stops their processes and `state`
keeps the files that describe them (pid files, clouds.yaml, the generated lab file). The
code that does import nova lives in `cell/` and runs only inside the lab virtualenv.
"""
