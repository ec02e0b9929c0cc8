"""The processes that `launch` starts on one machine: each in a process group of its own with
its output in a log file (one streamed onto the launcher's too), the wait for the workers or
for the first failure, how a process ended in words, and stopping them all."""
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

GRACE_S = 5.0  # how long a process may take to end after SIGTERM, before SIGKILL


@dataclasses.dataclass
class Child:
    """One started process of the job."""
    role: str
    index: int
    popen: subprocess.Popen
    log: str

    @property
    def name(self):
        """'scheduler', 'server 0', 'worker 1'."""
        return 'scheduler' if self.role == 'scheduler' else f'{self.role} {self.index}'

    @property
    def key(self):
        """Its name in pids.json: 'scheduler', 'server-0', 'worker-1'."""
        return self.name.replace(' ', '-')


def start(role, index, command, env, log_dir, stream=False):
    """Start one process in its own process group, output to log_dir/<role>[-i].log (and, with
    `stream`, to this stdout too: `stream_output`)."""
    log = os.path.join(log_dir, 'scheduler.log' if role == 'scheduler'
                       else f'{role}-{index}.log')
    if stream:
        popen = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True, text=True, errors='replace')
    else:
        with open(log, 'w') as out:
            popen = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
    return Child(role, index, popen, log)


def stream_output(child):
    """Copy a child's output, line by line, to this stdout and its log; returns the thread."""
    def copy():
        with open(child.log, 'w') as log:
            for line in child.popen.stdout:
                log.write(line)
                log.flush()
                try:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                except (OSError, ValueError):  # our stdout is gone: keep draining the pipe
                    pass
    thread = threading.Thread(target=copy, name=f'{child.name} output', daemon=True)
    thread.start()
    return thread


def supervise(children, received, poll_s=0.1):
    """Wait for every worker to exit 0 or a signal (None), or return the first process to fail:
    a worker exiting non-zero, a scheduler or server ending at all."""
    workers = [c for c in children if c.role == 'worker']
    while not received:
        codes = [c.popen.poll() for c in children]
        if all(w.popen.returncode == 0 for w in workers):
            return None
        for child, code in zip(children, codes):
            if code is not None and (child.role != 'worker' or code != 0):
                return child
        time.sleep(poll_s)
    return None


def describe_exit(child):
    """'worker 1 (pid 123) was killed by SIGKILL' or '... exited with status 2: <last line>'."""
    code = child.popen.returncode
    if code < 0:
        how = f'was killed by {signal.Signals(-code).name}'
    else:
        last = last_line(child.log)
        how = f'exited with status {code}' + (f': {last}' if last else '')
    return f'{child.name} (pid {child.popen.pid}) {how}'


def last_line(path):
    """The last non-empty line of a text file ('' if none)."""
    try:
        with open(path, errors='replace') as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ''
    return lines[-1] if lines else ''


def stop(children, signals=(signal.SIGTERM,), grace_s=GRACE_S):
    """Each signal in turn, `grace_s` apart, to every running child's group; then SIGKILL, reap."""
    for sig in (*signals, signal.SIGKILL):
        running = [c for c in children if c.popen.poll() is None]
        for child in running:
            try:
                os.killpg(child.popen.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace_s if sig != signal.SIGKILL else 60)
        while running and time.monotonic() < deadline:
            running = [c for c in running if c.popen.poll() is None]
            time.sleep(0.05)
    for child in children:
        child.popen.wait()
