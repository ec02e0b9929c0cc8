"""Puts d2l_deep_rnn.pth into site-packages beside the package (see d2l_deep_rnn_mxnet): a
.pth file is not a module, so `build_py` adds it to what a wheel installs, and to an
editable wheel (whose root setuptools makes `install_lib`) too."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = 'd2l_deep_rnn.pth'


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        root = self.get_finalized_command('install').install_lib if self.editable_mode \
            else self.build_lib
        self.copy_file(PTH, os.path.join(root, PTH))

    def get_outputs(self, *args, **kwargs):
        return super().get_outputs(*args, **kwargs) + [os.path.join(self.build_lib, PTH)]


setup(cmdclass={'build_py': BuildPyWithPth})
