"""The equivalence proof of every block in ``twinspike.sw.blocks.BLOCKS``, driven by the level
table ``twinspike.equivalence.levels.LEVELS``:

1. Cython == reference, 2. MyHDL == reference, 3. GHDL == MyHDL (line for line) == reference,
each on random cases (the example count per level and profile is in the table) and on the
pinned cases the table names; then 4. the converted top elaborates in GHDL and synthesises
with Yosys for xc7 within the xc7z020.

Block-specific properties (periods, saturation, errors) live in ``tests/test_<block>.py``.
"""
import pytest
from hypothesis import given

from twinspike.equivalence import levels, profiles
from twinspike.hw import toolchain
from twinspike.sw.blocks import BLOCKS, block_module

LEVEL_IDS = [lvl.name for lvl in levels.LEVELS]


def _pinned_ids():
    return [pytest.param(lvl, name, which, i, id=f"{lvl.name}-{name}-{which}{i}")
            for lvl in levels.LEVELS for name in BLOCKS for which in lvl.pinned
            for i in range(len(levels.pinned_cases(name, which)))]


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("level", levels.LEVELS, ids=LEVEL_IDS)
def test_level_holds_on_random_cases(level, name, need_tool, tmp_path_factory):
    if level.tool:
        need_tool(level.tool)
    eq = block_module(name, "equivalence")

    @profiles.settings_for(level)
    @given(case=eq.cases())
    def holds(case):
        levels.check(level, name, case, tmp_path_factory.mktemp(name) if level.tool else None)

    holds()


@pytest.mark.parametrize("level,name,which,index", _pinned_ids())
def test_level_holds_on_pinned_cases(level, name, which, index, need_tool, tmp_path):
    if level.tool:
        need_tool(level.tool)
    levels.check(level, name, levels.pinned_cases(name, which)[index], tmp_path)


def test_level_table_is_complete():
    assert [lvl.name for lvl in levels.LEVELS] == ["cython", "myhdl", "ghdl"]
    for lvl in levels.LEVELS:
        assert set(lvl.examples) == set(levels.PROFILES)
        assert all(n >= 1 for n in lvl.examples.values())
        assert lvl.examples["dev"] <= lvl.examples["ci"] <= lvl.examples["deep"]
    with pytest.raises(ValueError, match="expected one of cython, myhdl, ghdl"):
        levels.level("vhdl")


@pytest.mark.parametrize("name", BLOCKS)
def test_converted_top_elaborates_in_ghdl(name, ghdl, tmp_path):
    hw = block_module(name, "hw")
    p = block_module(name, "equivalence").default_case()[0]
    files = toolchain.convert(hw.top(p), "vhdl", tmp_path, name)
    toolchain.ghdl_elaborate(files, name, tmp_path)


@pytest.mark.parametrize("name", BLOCKS)
def test_yosys_xc7_counts(name, yosys, tmp_path):
    hw = block_module(name, "hw")
    p = block_module(name, "equivalence").default_case()[0]
    res = toolchain.synth_xc7(hw.top(p), name, workdir=tmp_path)
    assert res.lut + res.ff > 0, f"{name} synthesised to nothing: {res.cells}"
    assert res.lut <= 53_200 and res.dsp <= 220 and res.bram36 <= 140, "does not fit xc7z020"


def test_yosys_stat_parsing_counts_every_resource_kind():
    stat = {"modules": {"\\top": {"num_cells_by_type": {
        "LUT2": 3, "LUT6": 2, "FDRE": 5, "FDSE": 1, "DSP48E1": 2, "RAMB36E1": 1, "RAMB18E1": 3,
        "RAM32M": 2, "SRLC32E": 1, "IBUF": 7, "CARRY4": 4}}}}
    res = toolchain.parse_yosys_stat(stat, "top")
    assert (res.lut, res.ff, res.dsp, res.bram36) == (5 + 8 + 1, 6, 2, 2.5)
