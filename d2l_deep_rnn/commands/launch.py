"""`python -m d2l_deep_rnn launch`: the main job on MXNet's parameter server.

    python -m d2l_deep_rnn launch --workers 2 --servers 1 -- --epochs 10 --cell lstm

starts the scheduler, the servers and the workers on this machine, shows worker 0's output,
keeps every process's log in <--out>/logs/, and stops them all at the end or at the first
failure. Across hosts each host runs one role instead (--role, --scheduler HOST:PORT):
docs/distributed.md, "More than one machine".
"""
import argparse
import json
import os
import signal
import socket
import sys

from ..config import UsageError, check_positive_int
from ..data import named_corpus
from ..files import atomic_write_bytes
from ..threads import USER_THREADS, num_cores
from . import children, services, watcher
from .common import config_from_args, one_line_errors, prepare_out_dir

HELP = "the main job on MXNet's parameter server (dist_sync), one process per role"
FORMATTER = argparse.RawDescriptionHelpFormatter

ROLES = ('scheduler', 'server', 'worker')
# the folder that holds the package: every process of the job imports this copy of it
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORWARD_GRACE_S = 2.0  # after a forwarded Ctrl-C (a worker waiting on the others ignores it)
HEARTBEAT_S = 1  # a multi-host job's default PS_HEARTBEAT_INTERVAL (ps-lite's heartbeats)
SILENCE_S = 10  # and PS_HEARTBEAT_TIMEOUT: a process silent this long counts as gone


def add_arguments(parser):
    """The launcher's own flags; the training flags follow `--`."""
    parser.usage = '%(prog)s [--workers N] [--servers M] [options] -- [training flags]'
    parser.add_argument('--workers', type=int, default=2, metavar='N',
                        help='worker processes (default 2)')
    parser.add_argument('--servers', type=int, default=1, metavar='M',
                        help='server processes (default 1)')
    parser.add_argument('--host', default=None,
                        help='address the local job listens on (default 127.0.0.1)')
    parser.add_argument('--port', type=int, default=None,
                        help="the scheduler's port (default: a free one)")
    parser.add_argument('--kvstore', choices=('dist_sync', 'dist_async'), default='dist_sync')
    parser.add_argument('--role', choices=ROLES, default=None,
                        help='run only this role of a job spread over several hosts')
    parser.add_argument('--scheduler', default=None, metavar='HOST:PORT',
                        help="with --role: the scheduler's address, the same on every host")


def split_argv(argv):
    """['--workers', '2', '--', '--epochs', '3'] -> (['--workers', '2'], ['--epochs', '3'])."""
    argv = list(argv)
    if '--' not in argv:
        return argv, []
    cut = argv.index('--')
    return argv[:cut], argv[cut + 1:]


@one_line_errors
def run(args):
    """The launcher from parsed flags (the training flags parsed in `args.train_args`)."""
    check_launch_args(args)
    check_train_args(args.train_args, args.workers, args.kvstore)
    if args.role in (None, 'worker'):  # a worker's host needs the corpus named
        named_corpus(args.train_args.data_dir)
    if args.port is not None and args.role in (None, 'scheduler'):
        check_port_free(args.host, args.port)
    if args.role is not None:
        return run_role(args, args.train_argv)
    return run_local(args, args.train_argv, args.train_args.out)


def check_launch_args(args):
    """Refuse impossible counts and mixed local/role flags (UsageError)."""
    check_positive_int('--workers', args.workers)
    check_positive_int('--servers', args.servers)
    if args.role is None and args.scheduler is not None:
        raise UsageError('--scheduler HOST:PORT goes with --role; without --role the '
                         'launcher starts the scheduler itself (see --host and --port)')
    if args.role is not None:
        if args.scheduler is None:
            raise UsageError(f'--role {args.role} needs --scheduler HOST:PORT, the address '
                             f'of the scheduler, the same on every host')
        if args.host is not None or args.port is not None:
            raise UsageError('with --role, give the address as --scheduler HOST:PORT '
                             '(not --host/--port)')
        args.host, args.port = parse_address(args.scheduler)
    args.host = resolve(args.host or '127.0.0.1')
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError(f'--port must be between 1 and 65535, got {args.port}')


def resolve(host):
    """A host name or address -> an IPv4 address (ps-lite binds and connects to numbers)."""
    try:
        return socket.gethostbyname(host)
    except OSError as e:
        raise UsageError(f'cannot resolve the host {host!r} ({e}); give an IP address') \
            from None


def parse_address(text):
    """'10.0.0.1:9091' -> ('10.0.0.1', 9091)."""
    host, _, port = text.rpartition(':')
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f'--scheduler must be HOST:PORT (for example 10.0.0.1:9091), '
                         f'got {text!r}')
    return host, int(port)


def check_train_args(args, workers, kvstore):
    """Refuse, before anything starts, training flags a parameter-server job cannot run."""
    config = config_from_args(args)
    if args.model == 'both':
        raise UsageError('a parameter-server job trains one model; give --model gluon or '
                         '--model scratch after --')
    if args.kvstore not in ('auto', kvstore):
        raise UsageError(f'the training flags say --kvstore {args.kvstore}; give the '
                         f'kvstore to the launcher instead (--kvstore before --)')
    if config.batch_size < workers:
        raise UsageError(f'--batch-size {config.batch_size} cannot be split across {workers} '
                         f'workers; use a batch size of at least {workers} or fewer workers')


def check_port_free(host, port):
    """Raise UsageError unless this machine can listen on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ps-lite's ZeroMQ does
        try:
            s.bind((host, port))
        except OSError as e:
            raise UsageError(f'cannot listen on {host}:{port} ({e.strerror}); choose another '
                             f'port, or another address of this machine') from None


def run_local(args, train_argv, out):
    """The whole job on this machine; returns the launcher's exit status."""
    log_dir = os.path.join(out, 'logs')
    prepare_out_dir(log_dir, '--out')
    received = []  # SIGINT/SIGTERM only set this: the loops below notice and clean up
    handlers = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    started, threads = [], []
    try:
        start_job(args, train_argv, log_dir, started, received)
        threads = [children.stream_output(c) for c in started if c.popen.stdout is not None]
        failed = children.supervise(started, received)
        if received:
            name = signal.Signals(received[0]).name
            print(f'launch: interrupted ({name}); stopping the job (logs in {log_dir})',
                  file=sys.stderr, flush=True)
            children.stop(started, signals=(received[0],), grace_s=FORWARD_GRACE_S)
            return 128 + received[0]
        if failed is not None:
            children.stop(started)
            for thread in threads:  # worker 0's log complete before reading its last line
                thread.join(timeout=children.GRACE_S)
            print(f'launch: {children.describe_exit(failed)}; stopped the others; its log: '
                  f'{failed.log}', file=sys.stderr, flush=True)
            return 2 if failed.role == 'worker' and failed.popen.returncode == 2 else 1
        return 0
    finally:
        children.stop(started)  # the scheduler and servers after success; all otherwise
        for thread in threads:
            thread.join(timeout=children.GRACE_S)
        for s, handler in handlers.items():
            signal.signal(s, handler)


def start_job(args, train_argv, log_dir, started, received):
    """Start the scheduler, servers and workers, each into `started` at once (a failure part-way
    stops those started); stop starting if a signal is `received`."""
    count = args.servers + args.workers
    ports = [p for p in free_ports(args.host, count + 1) if p != args.port]
    if args.port is None:
        args.port = ports.pop(0)
    address = f'{args.host}:{args.port}'
    plan = ([('scheduler', 0, None)] + [('server', i, ports[i]) for i in range(args.servers)]
            + [('worker', i, ports[args.servers + i]) for i in range(args.workers)])
    threads = max(1, num_cores() // args.workers)  # share the cores, not each all
    for role, index, node_port in plan:
        if received:
            return
        env = dmlc_env(role, args.host, args.port, args.servers, args.workers,
                       node_host=args.host, node_port=node_port, threads=threads)
        command = role_command(role, train_argv, args.kvstore, address)
        started.append(children.start(role, index, command, env, log_dir,
                                      stream=(role, index) == ('worker', 0)))
    pids = {c.key: c.popen.pid for c in started}
    atomic_write_bytes(os.path.join(log_dir, 'pids.json'), json.dumps(pids).encode())
    print(f'launch: scheduler at {address}, {args.servers} server(s), {args.workers} '
          f'worker(s) ({args.kvstore}); pids and logs in {log_dir}', flush=True)


def free_ports(host, count):
    """`count` distinct ports that are free on `host` now, in increasing order."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return sorted(s.getsockname()[1] for s in sockets)
    except OSError as e:
        raise UsageError(f'cannot listen on {host} ({e.strerror}); give --host an address '
                         f'of this machine') from None
    finally:
        for s in sockets:
            s.close()


def dmlc_env(role, host, port, servers, workers, node_host=None, node_port=None,
             threads=None):
    """This environment with one process's DMLC_* variables, and OMP_NUM_THREADS=`threads`
    unless the user set it (the package's own, a thread per core, is for one process alone)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('DMLC_') or k in ('DMLC_NODE_HOST', 'DMLC_INTERFACE')}
    if threads:
        env['OMP_NUM_THREADS'] = USER_THREADS or str(threads)
    env.update(DMLC_ROLE=role, DMLC_PS_ROOT_URI=host, DMLC_PS_ROOT_PORT=str(port),
               DMLC_NUM_SERVER=str(servers), DMLC_NUM_WORKER=str(workers),
               PYTHONUNBUFFERED='1',
               PYTHONPATH=os.pathsep.join(filter(None, [REPOSITORY,
                                                        os.environ.get('PYTHONPATH')])))
    if node_host:
        env['DMLC_NODE_HOST'] = node_host
    if node_port:  # ps-lite ranks a host's nodes by port: worker i gets rank i
        env['PORT'] = str(node_port)
    return env


def role_command(role, train_argv, kvstore, address, watch=False):
    """One process's command line: the main job for a worker, else `services.command`."""
    if role == 'worker':
        return [sys.executable, '-m', 'd2l_deep_rnn', *train_argv, '--kvstore', kvstore]
    return services.command(role, address, watch)


def run_role(args, train_argv):
    """Exec into one role of a multi-host job (its signals and exit status its own), sending
    heartbeats; a server or worker first starts its watcher."""
    interval, timeout = heartbeat_settings()
    env = dmlc_env(args.role, args.host, args.port, args.servers, args.workers)
    env.update(PS_HEARTBEAT_INTERVAL=str(interval), PS_HEARTBEAT_TIMEOUT=str(timeout))
    command = role_command(args.role, train_argv, args.kvstore, f'{args.host}:{args.port}',
                           watch=True)
    print(f'launch: {args.role} of a job with {args.workers} worker(s) and {args.servers} '
          f'server(s), scheduler at {args.host}:{args.port}', flush=True)
    sys.stderr.flush()
    if args.role == 'scheduler':  # it watches the others itself (services.schedule)
        return os.execve(sys.executable, command, env)
    process, alive = watcher.start(args.role, args.host, args.port, timeout)
    try:
        os.execve(sys.executable, command, env)
    finally:  # only if the exec failed: the watcher sees EOF and ends
        os.close(alive)
        process.wait()


def heartbeat_settings():
    """ps-lite's (PS_HEARTBEAT_INTERVAL, PS_HEARTBEAT_TIMEOUT), whole seconds; UsageError if bad."""
    values = []
    for name, default in (('PS_HEARTBEAT_INTERVAL', HEARTBEAT_S),
                          ('PS_HEARTBEAT_TIMEOUT', SILENCE_S)):
        text = os.environ.get(name, str(default))
        if not text.isdigit() or int(text) == 0:
            raise UsageError(f'{name} must be a positive whole number of seconds, got {text!r}')
        values.append(int(text))
    if values[1] <= values[0]:
        raise UsageError(f'PS_HEARTBEAT_TIMEOUT ({values[1]} s) must be longer than '
                         f'PS_HEARTBEAT_INTERVAL ({values[0]} s)')
    return tuple(values)
