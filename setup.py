"""Puts d2l_deep_rnn.pth into site-packages beside the package (see
d2l_deep_rnn_import_hook): a .pth file is not a module, so `build_py` adds it to what a wheel
installs, and to an editable wheel (whose root setuptools makes `install_lib`) too.

`build_py` also empties `build/lib` first: setuptools only adds to it (pypa/setuptools#1871),
so a module renamed or removed since the last build, a top-level one too (the import hook
was d2l_deep_rnn_mxnet.py), would still ship in the wheel."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = 'd2l_deep_rnn.pth'


class BuildPyWithPth(build_py):
    def run(self):
        if not self.editable_mode:  # what an earlier build left there, removed since
            shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()
        root = self.get_finalized_command('install').install_lib if self.editable_mode \
            else self.build_lib
        self.copy_file(PTH, os.path.join(root, PTH))

    def get_outputs(self, *args, **kwargs):
        return super().get_outputs(*args, **kwargs) + [os.path.join(self.build_lib, PTH)]


setup(cmdclass={'build_py': BuildPyWithPth})
