"""Build script: compiles csrc/*.cpp into ``fastxai._C`` with pybind11 and OpenMP.

The extension works on raw buffers (pointers + sizes passed from Python), so it needs
neither torch headers nor torch at build time. ``kernels/`` (Triton) is installed as the
``fastxai.kernels`` package.
"""
import glob
import os
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import find_packages, setup


def _openmp_flags() -> tuple[list[str], list[str]]:
    if sys.platform == "darwin":  # Apple clang has no -fopenmp by default
        return [], []
    if os.environ.get("FASTXAI_NO_OPENMP"):
        return [], []
    return ["-fopenmp"], ["-fopenmp"]


compile_omp, link_omp = _openmp_flags()
ext_modules = [
    Pybind11Extension(
        "fastxai._C",
        sorted(glob.glob("csrc/*.cpp")),
        include_dirs=["csrc"],
        cxx_std=17,
        # -ffp-contract=off: no fused multiply-add, so float results match the torch reference bit for bit
        extra_compile_args=["-O3", "-ffp-contract=off"] + compile_omp,
        extra_link_args=link_omp,
    )
]

packages = find_packages(include=["fastxai", "fastxai.*"]) + ["fastxai.kernels"]

setup(
    packages=packages,
    package_dir={"fastxai": "fastxai", "fastxai.kernels": "kernels"},
    ext_modules=ext_modules,
    cmdclass={"build_ext": build_ext},
)
