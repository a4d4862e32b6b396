"""Build ``fastxai._C`` in place with setup.py's own extension definition, without installing and
without reading pyproject.toml (whose metadata needs setuptools >= 77, which a lent GPU machine
may not have): ``python benches/build_ext_inplace.py [jobs]``. Used by ``benches/gpu_check.sh``."""
from __future__ import annotations

import os
import runpy
import sys

import setuptools
from setuptools import Distribution


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)
    captured: dict = {}
    real_setup = setuptools.setup
    setuptools.setup = lambda **kw: captured.update(kw)  # setup.py runs `from setuptools import setup`
    try:
        runpy.run_path(os.path.join(root, "setup.py"), run_name="__main__")
    finally:
        setuptools.setup = real_setup
    dist = Distribution({"name": "fastxai", "ext_modules": captured["ext_modules"],
                         "cmdclass": captured.get("cmdclass", {})})
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = 1
    cmd.parallel = int(sys.argv[1]) if len(sys.argv) > 1 else (os.cpu_count() or 1)
    cmd.ensure_finalized()
    cmd.run()
    print("built:", [os.path.relpath(cmd.get_ext_fullpath(e.name), root) for e in dist.ext_modules])


if __name__ == "__main__":
    main()
