"""The watcher beside a server or worker of a job across hosts (`launch --role`): it stops that
process once the scheduler stops answering, and ends with it. Run as a script,
`python -I watcher.py PID FD HOST PORT TIMEOUT NAME`; standard library only (why:
docs/distributed.md, "Inside the job")."""
import os
import select
import signal
import socket
import subprocess
import sys
import time

GRACE_S = 5.0  # how long the process may take to end after SIGTERM, before SIGKILL


def start(name, host, port, timeout_s):
    """Start the watcher of this process (about to exec into `name`); returns it and the pipe end
    kept open across exec, whose EOF tells the watcher that this process has ended."""
    ended, alive = os.pipe()
    os.set_inheritable(alive, True)
    watcher = subprocess.Popen(
        [sys.executable, '-I', os.path.abspath(__file__), str(os.getpid()), str(ended), host,
         str(port), str(timeout_s), name],
        stdin=subprocess.DEVNULL, pass_fds=(ended,))
    os.close(ended)
    return watcher, alive


def watch(pid, ended, host, port, timeout_s, name):
    """Stop `pid` (SIGTERM, then SIGKILL) and return 1 once the scheduler, having answered,
    has refused connections for `timeout_s` s; 0 once the pipe `ended` reads EOF."""
    answered = None  # when the scheduler last accepted a connection
    while not select.select([ended], [], [], 1)[0]:
        try:
            socket.create_connection((host, port), timeout=1).close()
            answered = time.monotonic()
        except OSError:
            if answered is not None and time.monotonic() - answered > timeout_s:
                print(f'launch: the scheduler at {host}:{port} has not answered for '
                      f'{timeout_s} s (the job has ended); stopped this {name} (pid {pid})',
                      file=sys.stderr, flush=True)
                os.kill(pid, signal.SIGTERM)
                if not select.select([ended], [], [], GRACE_S)[0]:
                    os.kill(pid, signal.SIGKILL)
                return 1
    return 0


def main(argv):
    """The script: `watch` with the arguments `start` gave; its exit status."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the process it watches
    pid, ended, host, port, timeout_s, name = argv
    return watch(int(pid), int(ended), host, int(port), int(timeout_s), name)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
