"""Which machine a run measured: the CPU (or GPU), its usable cores, MXNet and Python."""
import platform
import subprocess

import mxnet as mx

from .config import UsageError
from .threads import num_cores


def cpu_model(cpuinfo='/proc/cpuinfo'):
    """The CPU's model name ('AMD EPYC 7R13 Processor'), from /proc/cpuinfo or `platform`."""
    try:
        with open(cpuinfo, encoding='utf-8', errors='replace') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name' and value.strip():
                    return ' '.join(value.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'


def gpu_model(device_id):
    """The GPU's name from nvidia-smi, or 'GPU <id>' when it cannot say."""
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=name', '--format=csv,noheader',
                              '-i', str(device_id)], capture_output=True, text=True, timeout=20)
        name = out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 else ''
    except (OSError, subprocess.SubprocessError, IndexError):
        name = ''
    return name or f'GPU {device_id}'


def describe_host(cpuinfo='/proc/cpuinfo'):
    """'AMD EPYC 7R13 Processor, 2 cores' (the cores this process may use)."""
    cores = num_cores()
    return f'{cpu_model(cpuinfo)}, {cores} core{"s" if cores != 1 else ""}'


def describe_machine(ctx, cpuinfo='/proc/cpuinfo', gpu_name=gpu_model):
    """'cpu(0): AMD EPYC, 2 cores; MXNet 1.9.1, Python 3.11.7' (a GPU: its name, then the host)."""
    host = describe_host(cpuinfo)
    where = (f'{gpu_name(ctx.device_id)} (host {host})' if ctx.device_type == 'gpu' else host)
    return f'{ctx}: {where}; MXNet {mx.__version__}, Python {platform.python_version()}'


def default_ctx():
    """A GPU if MXNet sees one, else the CPU: d2l's `try_gpu()`, without importing d2l."""
    return mx.gpu(0) if mx.context.num_gpus() > 0 else mx.cpu()


def as_ctx_list(ctx):
    """One context or several (data parallel) -> a list of contexts."""
    return list(ctx) if isinstance(ctx, (list, tuple)) else [ctx]


def check_ctx(ctx, name='ctx'):
    """Refuse in one line a non-context or a GPU MXNet does not see (MXNet: a C++ trace, later)."""
    for c in as_ctx_list(ctx):
        if not isinstance(c, mx.Context):
            raise UsageError(f'{name} must be an MXNet context such as mx.cpu() or mx.gpu(0), '
                             f'or a list of them; got {c!r}')
        gpus = mx.context.num_gpus()
        if c.device_type == 'gpu' and c.device_id >= gpus:
            where = f'mx.gpu(0) to mx.gpu({gpus - 1})' if gpus else 'mx.cpu()'
            raise UsageError(f'{name}={c}: MXNet sees {gpus} GPU(s) here; use {where}')
