"""Build script: installs the five top-level folders under one ``twinspike`` namespace
and compiles every ``ext/*.pyx`` Cython kernel (with OpenMP) into ``twinspike.ext``."""
import glob
import os
import shutil

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

OPENMP = ["-fopenmp"]


def simd_flags() -> list[str]:
    """``-mavx2`` when the building CPU has AVX2 (the kernels are built on the machine that
    runs them; the saturating loops run ~2x faster). TWINSPIKE_PORTABLE=1 builds without."""
    if os.environ.get("TWINSPIKE_PORTABLE") == "1":
        return []
    try:
        with open("/proc/cpuinfo") as f:
            return ["-mavx2"] if " avx2" in f.read() else []
    except OSError:
        return []


#: Compiler directives of every ``ext/*.pyx`` and of the ``ext/*.pxd`` kernels they cimport, set
#: here once instead of a header per file: no bounds, wraparound or initialisation checks (the
#: Python-level entry points validate shapes and indices before the nogil kernels) and C
#: semantics for ``/`` and ``%``. A function that needs another directive sets it locally
#: (``@cython.boundscheck(True)`` or ``with cython.boundscheck(True):``) and says why.
DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def cython_include_dir() -> str:
    """A folder in which ``twinspike/ext`` is the ``ext/`` source folder, for the cimports.

    The kernels shared by several modules live in ``ext/*.pxd`` and are cimported by their
    package name (``from twinspike.ext.layers cimport ...``). Cython looks a cimport up as
    ``<dir>/twinspike/ext/layers.pxd`` in the source's root package folder (the project root,
    whose ``twinspike/`` is the application package, not ``ext/``), then in ``include_path``,
    then in ``sys.path``; it knows nothing of ``package_dir``. The link
    ``build/cython-include/twinspike/ext -> ext`` puts the sources where the package name says,
    ahead of any installed copy on ``sys.path``."""
    root = os.path.dirname(os.path.abspath(__file__))
    include = os.path.join(root, "build", "cython-include")
    link, source = os.path.join(include, "twinspike", "ext"), os.path.join(root, "ext")
    if os.path.islink(link) and os.path.samefile(link, source):
        return include
    if os.path.isdir(link) and not os.path.islink(link):
        shutil.rmtree(link)
    elif os.path.lexists(link):
        os.remove(link)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    try:
        os.symlink(os.path.relpath(source, os.path.dirname(link)), link)
    except OSError:                      # no symbolic links here: a fresh copy of the .pxd files
        os.makedirs(link)
        for pxd in glob.glob(os.path.join(source, "*.pxd")):
            shutil.copy2(pxd, link)
    return include


extensions = [
    Extension(
        "twinspike.ext." + os.path.splitext(os.path.basename(path))[0],
        [path],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3", *simd_flags(), *OPENMP],
        extra_link_args=OPENMP,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for path in sorted(glob.glob("ext/*.pyx"))
]

setup(
    name="twinspike",
    version="0.1.0",
    description="Twin (MyHDL + Cython) event-driven SNN inference accelerators for the Zynq-7020",
    python_requires=">=3.10",
    packages=[
        "twinspike",
        "twinspike.hw",
        "twinspike.sw",
        "twinspike.ext",
        "twinspike.equivalence",
        "twinspike.glm",
        "twinspike.convert",
    ],
    package_dir={
        "twinspike": "twinspike",
        "twinspike.hw": "hw",
        "twinspike.sw": "sw",
        "twinspike.ext": "ext",
        "twinspike.equivalence": "equivalence",
        "twinspike.glm": "twinspike/glm",
        "twinspike.convert": "twinspike/convert",
    },
    package_data={"twinspike.ext": ["*.pyx", "*.pxd"]},
    ext_modules=cythonize(
        extensions,
        compiler_directives=DIRECTIVES,
        include_path=[cython_include_dir()],
        annotate=False,
    ),
    # What the application needs (convert, eval, demo, accuracy, glm, hw-metrics). torch: install
    # the CPU build first (scripts/bootstrap.sh pins torch==2.13.0); an unpinned resolve can
    # pull a multi-GB CUDA build. The proof harness (hypothesis) is the `test` extra.
    install_requires=[
        "numpy>=1.24",
        "myhdl>=0.11.52,<0.12",  # the releases hw/toolchain.py (and its speed patch) was tested on
        "torch>=2.1",
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6.100", "tox>=4"],
        # Peers of benchmarks/bench_eval.py. Their declared deps pull a CUDA torch and
        # torchvision: benchmarks/install_peers.sh installs them with --no-deps instead.
        "benchmark": ["snntorch>=1.0", "spikingjelly>=2.0", "norse>=1.1", "nir>=1.0.7",
                      "nirtorch>=2.6", "loguru>=0.7", "h5py>=3", "threadpoolctl>=3"],
    },
    entry_points={"console_scripts": ["twinspike=twinspike.cli:main"]},
    zip_safe=False,
)
