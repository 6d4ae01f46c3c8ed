"""Levels 1-4 of the equivalence proof, for every block in ``twinspike.BLOCKS``.

1. Cython == reference (Hypothesis, many examples)
2. MyHDL simulation == reference (Hypothesis, fewer examples)
3. the VHDL converted from the MyHDL bench runs in GHDL and prints exactly what MyHDL prints,
   which in turn equals the reference
4. the converted Verilog synthesises with Yosys for xc7 and yields resource counts

Block-specific properties (periods, saturation, errors) live in ``tests/test_<block>.py``.
"""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.sw.blocks import BLOCKS, block_module
from twinspike.equivalence import profiles
from twinspike.equivalence.harness import assert_same
from twinspike.hw import toolchain


@pytest.mark.parametrize("name", BLOCKS)
@profiles.cython_settings()
@given(data=st.data())
def test_cython_equals_reference(name, data):
    eq = block_module(name, "equivalence")
    case = data.draw(eq.cases(), label="case")
    assert_same(eq.run_cython(*case), eq.run_reference(*case))


@pytest.mark.parametrize("name", BLOCKS)
@profiles.myhdl_settings()
@given(data=st.data())
def test_myhdl_equals_reference(name, data):
    eq = block_module(name, "equivalence")
    case = data.draw(eq.cases(), label="case")
    assert_same(eq.run_myhdl(*case), eq.run_reference(*case))


def _corner_ids():
    return [(n, i) for n in BLOCKS for i in range(len(block_module(n, "equivalence").corner_cases()))]


@pytest.mark.parametrize("name,index", _corner_ids())
def test_corner_cases_all_twins(name, index):
    eq = block_module(name, "equivalence")
    case = eq.corner_cases()[index]
    expected = eq.run_reference(*case)
    assert_same(eq.run_cython(*case), expected, "cython")
    assert_same(eq.run_myhdl(*case), expected, "myhdl")


def _verify_in_ghdl(eq, case, tmp_path):
    result = toolchain.verify_vhdl(eq.bench(*case), workdir=tmp_path)
    assert result.ok, f"GHDL output differs from MyHDL:\n{result.diff[:4000]}"
    # The GHDL run is also checked against the reference, not only against MyHDL.
    assert_same(eq.parse_lines(case[0], result.ghdl_lines), eq.run_reference(*case), "ghdl")


@pytest.mark.parametrize("name", BLOCKS)
def test_ghdl_runs_default_bench_like_myhdl(name, ghdl, tmp_path):
    eq = block_module(name, "equivalence")
    _verify_in_ghdl(eq, eq.default_case(), tmp_path)


@pytest.mark.parametrize("name", BLOCKS)
@profiles.ghdl_settings()
@given(data=st.data())
def test_ghdl_runs_random_benches_like_myhdl(name, data, ghdl, tmp_path_factory):
    eq = block_module(name, "equivalence")
    case = data.draw(eq.cases(), label="case")
    _verify_in_ghdl(eq, case, tmp_path_factory.mktemp(name))


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
