import mxnet as mx

from d2l_deep_rnn.machine import describe_machine


def test_describe_machine_names_the_cpu_or_gpu_cores_and_versions(tmp_path):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nmodel name\t: Intel(R) Xeon(R)   CPU @ 2.20GHz\n\n'
                       'processor\t: 1\nmodel name\t: Intel(R) Xeon(R)   CPU @ 2.20GHz\n')
    line = describe_machine(mx.cpu(), cpuinfo=str(cpuinfo))
    assert line.startswith('cpu(0): Intel(R) Xeon(R) CPU @ 2.20GHz, ')
    assert ' core' in line and f'; MXNet {mx.__version__}, Python 3.' in line
    gpu = describe_machine(mx.gpu(1), cpuinfo=str(cpuinfo), gpu_name=lambda i: f'Tesla V{i}00')
    assert gpu.startswith('gpu(1): Tesla V100 (host Intel(R) Xeon(R) CPU @ 2.20GHz, ')
    assert describe_machine(mx.cpu(), cpuinfo=str(tmp_path / 'missing')).startswith('cpu(0): ')
