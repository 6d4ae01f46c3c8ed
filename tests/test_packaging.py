"""The package installs under one namespace and uses its compiled Cython kernels."""
import importlib
import pkgutil

import pytest

import twinspike
import twinspike.ext
from twinspike.sw.blocks import BLOCKS


def _ext_modules():
    return [m.name for m in pkgutil.iter_modules(twinspike.ext.__path__) if not m.ispkg]


def test_every_block_has_all_four_parts():
    for name in BLOCKS:
        for part in ("sw", "hw", "ext", "equivalence"):
            importlib.import_module(f"twinspike.{part}.{name}")


@pytest.mark.parametrize("name", BLOCKS)
def test_block_kernel_is_compiled(name):
    mod = importlib.import_module(f"twinspike.ext.{name}")
    assert mod.COMPILED is True, f"twinspike.ext.{name} is running as pure Python"
    assert mod.__file__.endswith(".so"), f"twinspike.ext.{name} loaded from {mod.__file__}"


#: Python drivers inside ext/ (they stream data through the kernels; they hold no loop).
PYTHON_DRIVERS = {"evaluate"}


def test_all_ext_modules_are_compiled():
    names = _ext_modules()
    assert set(names) > PYTHON_DRIVERS, f"no compiled kernels found in twinspike.ext: {names}"
    for name in names:
        mod = importlib.import_module(f"twinspike.ext.{name}")
        if name in PYTHON_DRIVERS:
            assert mod.__file__.endswith(".py"), mod.__file__
        else:
            assert mod.__file__.endswith(".so"), mod.__file__


def test_namespace_layout():
    import twinspike.equivalence
    import twinspike.hw
    import twinspike.sw

    for sub in (twinspike.hw, twinspike.sw, twinspike.ext, twinspike.equivalence):
        assert sub.__name__.startswith("twinspike.")
