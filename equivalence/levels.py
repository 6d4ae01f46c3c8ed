"""The proof levels as data: what each level compares, and how many random cases it runs.

One table drives ``tests/test_equivalence.py`` (every level x every block, on random cases
drawn from the block's ``cases()`` strategy and on its pinned cases) and ``twinspike hdl
verify`` (one level on the blocks' default cases). Each level compares two sides of a block:

* ``reference`` -- ``equivalence/<block>.run_reference`` (``sw/``, the semantics)
* ``cython``    -- ``equivalence/<block>.run_cython`` (``ext/``)
* ``myhdl``     -- ``hw/<block>.run_bench``: the MyHDL test bench, simulated and parsed
* ``ghdl``      -- the same bench converted to VHDL and run in GHDL (``hw/toolchain.verify_vhdl``):
  its printed lines must equal MyHDL's line for line, and, parsed, the reference's outputs

The synthesis check (Yosys xc7 counts of the converted top) is not a comparison and stays a
plain test.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from twinspike.equivalence.harness import assert_same
from twinspike.hw import toolchain
from twinspike.sw.blocks import block_module

#: Hypothesis example-count profiles (``equivalence/profiles.py`` picks one).
PROFILES = ("dev", "ci", "deep")


@dataclass(frozen=True)
class Level:
    """One proof level: ``sides[0] == sides[1]`` on every case. ``examples`` is the number of
    random cases per block under each profile; ``pinned`` names the fixed case sets it also
    runs (``default``: ``default_case()``, ``corners``: ``corner_cases()``); ``tool`` is the
    external program it needs, if any."""

    name: str
    sides: tuple[str, str]
    examples: dict[str, int]
    pinned: tuple[str, ...]
    tool: str | None = None

    @property
    def claim(self) -> str:
        names = {"reference": "reference", "cython": "Cython", "myhdl": "MyHDL", "ghdl": "GHDL"}
        text = " == ".join(names[s] for s in self.sides)
        return text + " == reference" if self.name == "ghdl" else text


LEVELS = (
    Level("cython", ("cython", "reference"), {"dev": 100, "ci": 300, "deep": 3000},
          ("default", "corners")),
    Level("myhdl", ("myhdl", "reference"), {"dev": 10, "ci": 25, "deep": 150},
          ("default", "corners")),
    Level("ghdl", ("ghdl", "myhdl"), {"dev": 3, "ci": 5, "deep": 25}, ("default",), "ghdl"),
)
BY_NAME = {level.name: level for level in LEVELS}


def level(name: str) -> Level:
    if name not in BY_NAME:
        raise ValueError(f"level={name!r}: expected one of {', '.join(BY_NAME)}")
    return BY_NAME[name]


def pinned_cases(block: str, which: str) -> list[tuple]:
    eq = block_module(block, "equivalence")
    return [eq.default_case()] if which == "default" else list(eq.corner_cases())


def _run_side(side: str, block: str, case: tuple):
    if side == "reference":
        return block_module(block, "equivalence").run_reference(*case)
    if side == "cython":
        return block_module(block, "equivalence").run_cython(*case)
    if side == "myhdl":
        return block_module(block, "hw").run_bench(*case)
    raise ValueError(f"unknown side {side!r}")


def check(lvl: Level, block: str, case: tuple, workdir: str | os.PathLike | None = None) -> str:
    """Run ``case`` of ``block`` at level ``lvl``; raise ``AssertionError`` naming the first
    difference, or return a one-line summary of what was compared."""
    if lvl.name != "ghdl":
        assert_same(_run_side(lvl.sides[0], block, case), _run_side(lvl.sides[1], block, case),
                    f"{block}: {lvl.claim}")
        return lvl.claim
    hw = block_module(block, "hw")
    result = toolchain.verify_vhdl(hw.testbench(*case), workdir=workdir)
    if not result.ok:
        raise AssertionError(f"{block}: GHDL output differs from MyHDL:\n{result.diff[:4000]}")
    # The GHDL run is also checked against the reference, not only against MyHDL.
    assert_same(hw.parse_lines(case[0], result.ghdl_lines), _run_side("reference", block, case),
                f"{block}: GHDL == reference")
    return f"{lvl.claim} ({len(result.ghdl_lines)} lines)"
