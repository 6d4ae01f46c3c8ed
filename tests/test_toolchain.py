"""hw/toolchain.py: the one MyHDL runner leaves the process as it found it, and its speed patch
is exact, guarded and off where MyHDL's internals differ."""
import os
import sys
import warnings

import myhdl
import myhdl._intbv
import pytest
from myhdl.conversion import verify

from twinspike.hw import toolchain
from twinspike.sw.blocks import block_module


def _process_state():
    return (os.getcwd(), verify.simulator, sys.stdout, sys.stderr, myhdl._intbv.bin,
            myhdl.toVHDL.initial_values, myhdl.toVerilog.initial_values)


def _lfsr_case():
    return block_module("lfsr", "equivalence").default_case()


def test_bitstring_is_myhdls_bin_exactly():
    numbers = list(range(-5000, 5000)) + [s * (2**k + d) for k in range(70) for d in (-1, 0, 1)
                                         for s in (1, -1)]
    assert [toolchain.bitstring(x) for x in numbers] == [myhdl.bin(x) for x in numbers]
    assert toolchain.bitstring(-3, 8) == myhdl.bin(-3, 8) == "11111101"


def test_speed_patch_gives_myhdls_widths_and_is_restored():
    bounds = ((-128, 128), (0, 9), (-5, 1))
    with toolchain.fast_intbv_widths():
        assert myhdl._intbv.bin is toolchain.bitstring
        inside = [len(myhdl.intbv(0, min=lo, max=hi)) for lo, hi in bounds]
    assert inside == [len(myhdl.intbv(0, min=lo, max=hi)) for lo, hi in bounds] == [8, 4, 4]
    assert myhdl._intbv.bin is myhdl.bin


def test_speed_patch_is_a_noop_with_a_warning_when_myhdl_internals_differ(monkeypatch):
    def other_bin(num, width=0):
        return myhdl.bin(num, width)

    monkeypatch.setattr(myhdl._intbv, "bin", other_bin)
    monkeypatch.setattr(toolchain, "_warned", False)
    with pytest.warns(RuntimeWarning, match="speed patch is off"):
        with toolchain.fast_intbv_widths():
            assert myhdl._intbv.bin is other_bin
    assert myhdl._intbv.bin is other_bin
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # warned once, not on every run
        with toolchain.fast_intbv_widths():
            pass


def test_run_myhdl_restores_process_state():
    before = _process_state()
    eq, hw = block_module("lfsr", "equivalence"), block_module("lfsr", "hw")
    case = _lfsr_case()
    assert (hw.run_bench(*case) == eq.run_reference(*case)).all()
    assert _process_state() == before


def test_verify_vhdl_restores_process_state(ghdl, tmp_path, monkeypatch):
    hw = block_module("lfsr", "hw")
    before = _process_state()
    result = toolchain.verify_vhdl(hw.testbench(*_lfsr_case()), workdir=tmp_path / "verify")
    assert result.ok, result.diff
    assert _process_state() == before
    monkeypatch.chdir(tmp_path)                        # from another folder, in a temp folder
    before = _process_state()
    assert toolchain.verify_vhdl(hw.testbench(*_lfsr_case())).ok
    assert _process_state() == before


def test_convert_and_synth_restore_process_state(yosys, tmp_path):
    hw = block_module("lfsr", "hw")
    p = _lfsr_case()[0]
    before = _process_state()
    toolchain.convert(hw.top(p), "vhdl", tmp_path / "vhdl", "lfsr")
    toolchain.synth_xc7(hw.top(p), "lfsr", workdir=tmp_path / "synth")
    assert _process_state() == before


def test_missing_tool_names_the_install_command(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(toolchain.ToolMissing, match="apt-get install -y ghdl yosys iverilog"):
        toolchain.require("ghdl")


def test_convert_after_verify_writes_no_initial_values(ghdl, tmp_path):
    """A board starts from reset, not from simulation-only initial values: a conversion must
    not inherit verify's ``initial_values=True``."""
    hw = block_module("lfsr", "hw")
    case = _lfsr_case()
    assert toolchain.verify_vhdl(hw.testbench(*case), workdir=tmp_path / "verify").ok
    files = toolchain.convert(hw.top(case[0]), "vhdl", tmp_path / "vhdl", "lfsr")
    text = files[-1].read_text()
    assert "signal" in text and ":= " not in text.split("begin", 1)[0]


def test_sta_report_and_clock_with_routing_margin():
    text = "4. Executing STA pass.\nLatest arrival time in 'top' is 15840:\n   15840 x (FDRE.D)"
    assert toolchain.parse_sta(text) == 15.84
    assert toolchain.clock_mhz_for(7.0) == pytest.approx(100.0)     # 30 % of 10 ns for routing
    with pytest.raises(RuntimeError, match="no arrival time"):
        toolchain.parse_sta("nothing")
