"""The block registry: every accelerator block's name, in build order.

A block ``name`` is a module of that name in each layer: ``sw/<name>.py`` (reference and
parameter object), ``hw/<name>.py`` (MyHDL twin, its bench and the bench's parser),
``ext/<name>.pyx`` (Cython twin) and ``equivalence/<name>.py`` (Hypothesis strategies and
``run_reference``/``run_cython``). The generic tests, ``twinspike hdl convert|synth|verify`` and the README
block table all iterate this tuple; adding a block is adding its four modules and one name here.
"""
from __future__ import annotations

import importlib
from types import ModuleType

BLOCKS: tuple[str, ...] = ("lfsr", "rate_encoder", "if_pe_array", "spike_fifo", "dense_engine",
                           "conv_engine", "glm_neuron", "spike_count_decoder",
                           "first_to_spike_decoder")

#: The layers a block has a module in (the folder names, installed as ``twinspike.<part>``).
PARTS = ("sw", "hw", "ext", "equivalence")


def block_module(name: str, part: str) -> ModuleType:
    """The module of block ``name`` in layer ``part``. Resolved by name when called: callers in a
    higher layer ask for a lower or equal one (the CLI for ``hw``, the proofs for all four)."""
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}: expected one of {', '.join(BLOCKS)}")
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: expected one of {', '.join(PARTS)}")
    return importlib.import_module(f"twinspike.{part}.{name}")
