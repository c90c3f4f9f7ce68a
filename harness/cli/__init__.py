"""The `matrix` command line: one module per command group, one set of shared options.

`main` is the console entry point; every command raises `harness.errors.MatrixError`
subclasses for what the user must fix, and `main` turns them into one line and an exit code.
"""
