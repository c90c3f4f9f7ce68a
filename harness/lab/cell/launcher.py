"""Start the lab's cells from one interpreter that imported Nova once, and reap them.

Started by harness/lab/control.py as ``<labvenv>/bin/python launcher.py --server SERVER
[--libvirt] DIR...``, where DIR are the cell directories it may start. Importing Nova and its
test fixtures is more than half of a cell's boot (about 1.4 s of CPU); done here once, while
the harness still prepares the cells and Keystone starts, every cell forked from this
process begins with it, so cells booting together no longer each pay it.

Outline:
1. load SERVER (cell/server.py) as a module and run its ``preload``: the imports every cell
   needs (``--libvirt``: also the libvirt driver's). No thread may be started before a fork:
   a forked child keeps only the thread that forked it.
2. read cell directories from standard input, one per line, as the harness has prepared
   each (its ``server-args.json`` holds SERVER's arguments for that cell), and fork a child
   per line. The child leads a session of its own (a daemon: no terminal, no signal from the
   shell that started the lab), writes to DIR/cell.log, works in DIR and runs SERVER's
   ``run(args)``. This process writes the child's pid to DIR/pid.
3. at the end of standard input, reap the children as they end, each one's exit status
   written to DIR/exit-status, and exit once none is left. The cells are its children, not
   orphans: on a machine whose init reaps nothing, a stopped cell leaves no zombie.

SIGTERM (the harness was interrupted while cells started) stops every cell it started, then
it: a cell forked but not yet recorded by the harness is never left running.

A cell is known as the lab's by its command line, which is this process's: this script and
the cell's directory among those listed.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import sys
import time
import traceback

ARGS_FILE = "server-args.json"
PID_FILE = "pid"
EXIT_FILE = "exit-status"
LOG_FILE = "cell.log"
STOP_TIMEOUT = 10.0  # seconds a cell has to stop on SIGTERM, before SIGKILL


def load_server(path):
    """SERVER as the module `server`, its directory first on the path (for its siblings)."""
    directory = os.path.dirname(os.path.abspath(path))
    if sys.path[:1] != [directory]:
        sys.path.insert(0, directory)
    spec = importlib.util.spec_from_file_location("server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["server"] = module
    spec.loader.exec_module(module)
    return module


def become_cell(server, directory, args):
    """In the forked child: a daemon writing to its cell's log, then the cell itself."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the launcher's handler is not the cell's
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        os.setsid()
        log = os.open(os.path.join(directory, LOG_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        nothing = os.open(os.devnull, os.O_RDONLY)
        os.dup2(nothing, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(nothing)
        os.chdir(directory)
        server.run(args)  # ends the process itself, or raises SystemExit
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)  # never back into the launcher's loop


def write_atomically(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def start(server, directory):
    """Fork the cell of `directory`; its pid."""
    with open(os.path.join(directory, ARGS_FILE), encoding="utf-8") as handle:
        args = json.load(handle)
    for stale in (EXIT_FILE, PID_FILE):
        if os.path.exists(os.path.join(directory, stale)):
            os.unlink(os.path.join(directory, stale))
    sys.stdout.flush()  # nothing buffered here may be written twice, by the child too
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        become_cell(server, directory, args)
    write_atomically(os.path.join(directory, PID_FILE), f"{pid}\n")
    print(f"started cell {directory} as pid {pid}", flush=True)
    return pid


class Stopped(Exception):
    """SIGTERM: the harness gives up on the cells being started (interrupted, or failed)."""


def _stopped(signum, frame):
    raise Stopped


def main(argv):
    parser = argparse.ArgumentParser(prog="cell/launcher.py", description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the cell server script (server.py)")
    parser.add_argument("--libvirt", action="store_true", help="also import the libvirt driver")
    parser.add_argument("directories", nargs="+", metavar="DIR", help="cells it may start")
    options = parser.parse_args(argv)
    allowed = {os.path.abspath(d) for d in options.directories}
    children = {}
    signal.signal(signal.SIGTERM, _stopped)
    try:
        server = load_server(options.server)
        server.preload(libvirt=options.libvirt)
        for line in sys.stdin:
            directory = os.path.abspath(line.strip())
            if directory not in allowed:  # the command line must name every cell started
                print(f"not a directory this launcher was given: {directory!r}", file=sys.stderr)
                continue
            # no SIGTERM between the fork and the child's entry below: it would be left alone
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            try:
                children[start(server, directory)] = directory
            except OSError as error:
                print(f"cannot start the cell in {directory}: {error}", file=sys.stderr)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        while children:
            reap(children, os.wait())
    except Stopped:  # stop what was started, so the harness has nothing left to find
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        deadline = time.monotonic() + STOP_TIMEOUT
        while children:
            ended = os.waitpid(-1, os.WNOHANG)
            if ended[0]:
                reap(children, ended)
            elif time.monotonic() < deadline:
                time.sleep(0.05)
            else:  # a cell that does not stop on SIGTERM
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                deadline = float("inf")


def reap(children, ended):
    pid, status = ended
    directory = children.pop(pid, None)
    if directory is not None:
        code = os.waitstatus_to_exitcode(status)
        write_atomically(os.path.join(directory, EXIT_FILE), f"{code}\n")
        print(f"cell {directory} (pid {pid}) ended with status {code}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
