"""AXI plumbing: the register map table, the AXI4-Lite register file and the AXI4-Stream
adapters (MyHDL == reference models under random transactions and stalls, VHDL in GHDL ==
MyHDL, Yosys counts) and the generated register-map page."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinspike.equivalence import profiles
from twinspike.hw import axi as hw
from twinspike.hw import toolchain
from twinspike.sw import axi as ref
from twinspike.sw import register_map as rm
from twinspike.sw.register_map import RESP_OKAY, RESP_SLVERR, Field

# Tie-offs (chain starts, unused strobes) are undriven signals MyHDL converts to constants.
pytestmark = pytest.mark.filterwarnings("ignore:Signal is not driven")
DOC = Path(__file__).resolve().parents[1] / "docs" / "register-map.md"
INPUTS, SETS = ref.core_inputs(), ref.set_inputs()


def txn(kind: str, where, data: int = 0, inputs=None, sets=None, **kw) -> ref.Transaction:
    """A transaction at a register name or a byte address (core inputs 0, no sets)."""
    addr = rm.offset(where) if isinstance(where, str) else where
    return ref.Transaction(kind, addr, data, inputs=tuple(inputs or (0,) * len(INPUTS)),
                           sets=tuple(sets or (0,) * len(SETS)), **kw)


def both(txns, p=ref.AxiLiteParams()):
    """Run the MyHDL bench, check it equals the model, return the model's records."""
    expected = ref.run_transactions(txns, p=p)
    got = hw.run_regs_bench(txns, p)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        e = {k: v for k, v in e.items() if k != "kind"}
        assert g == e, f"transaction {i} ({txns[i]}): MyHDL {g} != model {e}"
    return expected


# ------------------------------------------------------------------ the table


def test_table_is_consistent_and_lookups_work():
    offsets = [r.offset for r in rm.REGISTERS]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert all(o % 4 == 0 for o in offsets)
    assert rm.register("version").reset == rm.VERSION_WORD == 0x54530002
    assert rm.at(rm.offset("T") + 3).name == "T" and rm.at(rm.SPAN) is None
    assert rm.field_value("CONTROL", start=1, irq_enable=1) == 0b101
    assert rm.field_of("STATUS", 0b110, "error") == 1
    assert rm.register("CONTROL").pulse_mask == 0b11
    for name in ("VERSION", "CONTROL", "STATUS", "IRQ", "T", "LAYER_COUNT", "TABLE_BASE", "IMAGES",
                 "CYCLES_LO", "CYCLES_HI", "SOPS_LO", "SOPS_HI", "ERROR", "SATURATION",
                 "MEM_SELECT", "MEM_ADDR", "MEM_DATA"):
        assert rm.register(name).name == name
    with pytest.raises(KeyError, match="no register 'NOPE'"):
        rm.register("NOPE")
    with pytest.raises(KeyError, match="no field 'go'"):
        rm.field_value("CONTROL", go=1)


def test_memory_codes_follow_the_compiler():
    from twinspike import compile as comp

    assert rm.MEMORIES == comp.IMAGES


def test_memory_writes_chunk_words_and_auto_increment():
    assert [rm.chunks_per_word(b) for b in (1, 32, 33, 64, 65, 192, 256)] == [1, 1, 2, 2, 4, 8, 8]
    writes = rm.memory_writes("bias", [(5 << 64) | 7], 96, first_word=3)
    assert writes[:2] == [(rm.offset("MEM_SELECT"), 2), (rm.offset("MEM_ADDR"), 12)]
    assert writes[2:] == [(rm.offset("MEM_DATA"), v) for v in (7, 0, 5, 0)]
    with pytest.raises(ValueError, match="does not fit"):
        rm.memory_writes("table", [1 << 32], 32)


@pytest.mark.parametrize("change,match", [
    (dict(offset=0x06), "not word-aligned"),
    (dict(offset=0x00), "overlaps"),
    (dict(name="VERSION"), "used twice"),
    (dict(reset=1 << 16), "does not fit"),
    (dict(width=33), "out of range"),
    (dict(access="rx"), "access"),
    (dict(fields=(Field("a", 0, 4), Field("b", 3, 2))), "overlaps another field"),
    (dict(fields=(Field("a", 15, 2),)), "outside"),
    (dict(fields=(Field("go", 0, 1, pulse=True),), access="ro"), "pulse field"),
    (dict(constant=True), "only ro"),
    (dict(increment_on="T"), "increment_on"),
])
def test_bad_tables_are_refused(change, match):
    row = dataclasses.replace(rm.register("T"), **change)
    table = tuple(r for r in rm.REGISTERS if r.name != "T") + (row,)
    with pytest.raises(ValueError, match=match):
        rm.check_table(table)


def test_generated_doc_is_committed():
    """docs/register-map.md is the rendering of the table (regenerate with
    ``python -m twinspike.sw.register_map > docs/register-map.md``)."""
    assert DOC.read_text() == rm.render_doc()
    for r in rm.REGISTERS:
        assert f"| `0x{r.offset:02X}` | `{r.name}` |" in rm.markdown_table()


# ------------------------------------------------------------------ register file, by hand


def test_reset_values_read_back_and_unmapped_answers_slverr():
    txns = [txn("read", r.offset) for r in rm.REGISTERS]
    txns += [txn("read", rm.SPAN), txn("read", 0xFFC), txn("write", 0xFF0, 1),
             txn("write", "VERSION", 5), txn("write", "STATUS", 7), txn("read", "VERSION")]
    rec = both(txns)
    for r, got in zip(rm.REGISTERS, rec):
        assert got["resp"] == RESP_OKAY
        assert got["rdata"] == (r.reset if r.access != "wo" else 0)
    assert [g["resp"] for g in rec[-6:-1]] == [RESP_SLVERR] * 5
    assert rec[-1]["rdata"] == rm.VERSION_WORD


def test_rw_strobes_widths_pulses_and_w1c():
    inputs = tuple(0xA5A5A5A5 & r.mask for r in INPUTS)
    txns = [
        txn("write", "T", 0xFFFF1234),                          # 16 bits exist
        txn("write", "T", 0x0000AB00, strb=0b0010),              # one byte
        txn("read", "T"),
        txn("write", "CONTROL", rm.field_value("CONTROL", start=1, irq_enable=1)),
        txn("read", "CONTROL"),                                  # start reads 0
        txn("read", "STATUS", inputs=inputs),
        txn("read", "IRQ", sets=(1,)),                           # the core sets done
        txn("write", "IRQ", 0),                                  # writing 0 keeps it
        txn("write", "IRQ", 1),                                  # writing 1 clears it
        txn("read", "IRQ"),
        txn("write", "CONTROL", rm.field_value("CONTROL", soft_reset=1, irq_enable=1),
            strb=0b0001),
    ]
    rec = both(txns)
    assert rec[2]["rdata"] == 0xAB34
    assert rec[3]["pulses"] == [dict(control=0b101, mem_addr=0, mem_data_we=0, mem_data=0)]
    assert rec[4]["rdata"] == 0b100 and rec[4]["outputs"]["control"] == 0b100
    assert rec[5]["rdata"] == 0xA5A5A5A5 & 0b111
    assert rec[6]["rdata"] == 1 and rec[6]["outputs"]["interrupt"] == 1
    assert rec[7]["outputs"]["irq"] == 1 and rec[8]["outputs"]["irq"] == 0
    assert rec[8]["outputs"]["interrupt"] == 0
    assert rec[10]["pulses"][0]["control"] == 0b110 and rec[10]["outputs"]["control"] == 0b100


def test_memory_window_auto_increments():
    words = rm.memory_writes("weight", [0x1122334455667788, 0x99], 64, first_word=2)
    txns = [txn("write", a, d) for a, d in words] + [txn("read", "MEM_ADDR"), txn("read", "MEM_DATA")]
    rec = both(txns)
    strobes = [(r["pulses"][0]["mem_addr"], r["pulses"][0]["mem_data"]) for r in rec[2:6]]
    assert strobes == [(4, 0x55667788), (5, 0x11223344), (6, 0x99), (7, 0)]
    assert all(p["mem_data_we"] == 1 and p["control"] == 0 for r in rec[2:6] for p in r["pulses"])
    assert rec[6]["rdata"] == 8 and rec[7] == dict(rec[7], resp=RESP_OKAY, rdata=0)
    assert rec[-1]["outputs"]["mem_select"] == 1


def test_write_channels_in_either_order_and_backpressure():
    """AW long before W, W long before AW, both together, B and R held off for cycles."""
    txns = [txn("write", "IMAGES", 11, aw_delay=0, w_delay=6, b_delay=9),
            txn("write", "IMAGES", 22, aw_delay=7, w_delay=0),
            txn("write", "IMAGES", 33, b_delay=3),
            txn("read", "IMAGES", ar_delay=4, r_delay=8)]
    assert both(txns)[-1]["rdata"] == 33


# ------------------------------------------------------------------ register file, random

_OFFSETS = [r.offset for r in rm.REGISTERS]


@st.composite
def transactions(draw, max_size=20):
    out = []
    for _ in range(draw(st.integers(1, max_size))):
        kind = draw(st.sampled_from(("write", "read")))
        if draw(st.integers(0, 4)):
            addr = draw(st.sampled_from(_OFFSETS)) + draw(st.sampled_from((0, 0, 0, 1, 2, 3)))
        else:
            addr = draw(st.integers(0, (1 << 12) - 1))
        data = draw(st.one_of(st.integers(0, 0xFFFFFFFF), st.integers(0, 7)))
        strb = draw(st.one_of(st.just(0xF), st.integers(0, 0xF)))
        delays = {k: draw(st.integers(0, 3)) for k in
                  ("aw_delay", "w_delay", "b_delay", "ar_delay", "r_delay")}
        inputs = tuple(draw(st.integers(0, r.mask)) for r in INPUTS)
        sets = tuple(draw(st.integers(0, r.mask)) if draw(st.integers(0, 3)) == 0 else 0
                     for r in SETS)
        out.append(ref.Transaction(kind, addr, data, strb, inputs=inputs, sets=sets, **delays))
    return out


@profiles.settings_for("myhdl")
@given(transactions())
def test_random_transactions_myhdl_equals_model(txns):
    """Any mix of reads and writes (mapped, unmapped, unaligned, partial strobes), AW/W in
    any order, B/R stalls, core inputs and w1c sets: responses, read data, every pulse and the
    core-side outputs equal the reference register file."""
    both(txns)


def test_narrow_address_window():
    p = ref.AxiLiteParams(addr_bits=7)
    rec = both([txn("write", "T", 9), txn("read", "T"), txn("read", 0x7C), txn("write", 0x58, 1)], p)
    assert [r["resp"] for r in rec] == [RESP_OKAY, RESP_OKAY, RESP_SLVERR, RESP_SLVERR]
    with pytest.raises(ValueError, match="addr holds|out of range"):
        ref.check_transactions([txn("read", 0x80)], p=p)
    with pytest.raises(ValueError, match="AxiLiteParams.addr_bits"):
        ref.AxiLiteParams(addr_bits=6)


# ------------------------------------------------------------------ stream adapters

DIRECTIONS = ("input", "output")


@st.composite
def stream_cases(draw, max_words=24):
    p = ref.AxisParams(lanes=draw(st.integers(1, 4)), lane_bits=draw(st.sampled_from((1, 8, 11, 16))))
    n = draw(st.integers(1, max_words))
    words = draw(st.lists(st.integers(0, (1 << p.data_bits) - 1), min_size=n, max_size=n))
    lasts = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    willing = draw(st.lists(st.integers(0, 1), min_size=1, max_size=3 * max_words))
    ready = draw(st.lists(st.integers(0, 1), min_size=1, max_size=3 * max_words))
    return p, words, lasts, willing, ready


def check_axis_master(rows, ready):
    """AXI4-Stream master rule on the output side: once valid, it stays valid with the same
    data and last until the cycle the sink is ready."""
    for c in range(len(rows) - 1):
        r = rows[c]
        if r["m_valid"] and not ref._pattern(ready, c):
            assert rows[c + 1] == dict(rows[c + 1], m_valid=1, m_data=r["m_data"], m_last=r["m_last"])


@given(stream_cases(max_words=64))
@settings(max_examples=200)
def test_skid_model_loses_nothing(case):
    p, words, lasts, willing, ready = case
    rows, received = ref.stream_run(words, lasts, willing, ready)
    assert received == list(zip(words, lasts))
    check_axis_master(rows, ready)


@profiles.settings_for("myhdl")
@given(st.sampled_from(DIRECTIONS), stream_cases())
def test_stream_adapters_myhdl_equal_model(direction, case):
    """Random TVALID (holding source) and TREADY stall patterns: the MyHDL adapter's
    per-cycle outputs equal the model's; every word arrives once, in order, with its last."""
    p, words, lasts, willing, ready = case
    rows, received = ref.stream_run(words, lasts, willing, ready)
    assert hw.run_stream_bench(direction, p, words, lasts, willing, ready) == rows
    assert received == list(zip(words, lasts))


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_full_rate_and_registered_ready(direction):
    """Always-ready sink: one word per cycle after one cycle of latency, TREADY never drops;
    a stalled sink fills the skid register and only then drops TREADY."""
    p = ref.AxisParams(lanes=2, lane_bits=8)
    words = list(range(1, 11))
    rows = hw.run_stream_bench(direction, p, words, [0] * 9 + [1], [1], [1])
    assert [r["s_ready"] for r in rows] == [1] * 11
    assert [r["m_data"] for r in rows] == [0] + words
    assert rows[-1]["m_last"] == 1
    rows = hw.run_stream_bench(direction, p, words[:4], [0] * 4, [1], [0] * 5)
    assert [r["s_ready"] for r in rows[:5]] == [1, 1, 0, 0, 0]
    assert [r["m_data"] for r in rows] == [0, 1, 1, 1, 1, 1, 2, 3, 4]


# ------------------------------------------------------------------ GHDL and Yosys


def _verify(tb):
    result = toolchain.verify_vhdl(tb)
    assert result.ok, result.diff
    return result.ghdl_lines


def test_regs_bench_in_ghdl(ghdl):
    txns = [txn("read", "VERSION"), txn("write", "T", 0x1234, w_delay=2, b_delay=1),
            txn("write", "CONTROL", 0b101, aw_delay=3), txn("read", "IRQ", sets=(1,), r_delay=2),
            txn("write", "IRQ", 1), txn("write", "STATUS", 1), txn("read", 0x800),
            txn("write", "MEM_ADDR", 6), txn("write", "MEM_DATA", 0xFEDCBA98),
            txn("read", "MEM_ADDR"),
            txn("read", "CYCLES_HI", inputs=tuple(0xFFFFFFF0 & r.mask for r in INPUTS))]
    lines = _verify(hw.regs_testbench(txns))
    expected = [{k: v for k, v in e.items() if k != "kind"} for e in ref.run_transactions(txns)]
    assert hw.parse_regs_lines(lines) == expected


@settings(max_examples=profiles.examples("ghdl"))
@given(transactions(max_size=8))
def test_random_regs_bench_in_ghdl(ghdl, txns):
    _verify(hw.regs_testbench(txns))


@pytest.mark.parametrize("direction,lanes,bits", [("input", 1, 8), ("input", 3, 11),
                                                  ("output", 2, 16), ("output", 1, 5)])
def test_stream_bench_in_ghdl(ghdl, direction, lanes, bits):
    p = ref.AxisParams(lanes=lanes, lane_bits=bits)
    words = [(0x9E3779B97F4A7C15 * (i + 1)) % (1 << p.data_bits) for i in range(12)]
    lasts = [int(i % 4 == 3) for i in range(12)]
    willing, ready = [1, 0, 1, 1, 0, 0, 1] * 3, [0, 1, 1, 0, 1, 0, 0, 1] * 3
    lines = _verify(hw.stream_testbench(direction, p, words, lasts, willing, ready))
    assert hw.parse_stream_lines(lines) == ref.stream_run(words, lasts, willing, ready)[0]


def test_yosys_counts(yosys):
    regs = toolchain.synth_xc7(hw.regs_top(), "axi_lite_regs")
    stored = sum(r.width for r in rm.REGISTERS if r.access in ("rw", "wo", "w1c"))
    # Stored bits, the AW/W holding registers, RDATA/RRESP/BRESP, valids, strobes, interrupt.
    assert stored <= regs.ff <= stored + 130, regs.as_row()
    assert regs.lut < 700 and regs.dsp == 0 and regs.bram36 == 0, regs.as_row()
    p = ref.AxisParams(lanes=8, lane_bits=8)
    for direction in DIRECTIONS:
        res = toolchain.synth_xc7(hw.stream_top(direction, p), f"axis_{direction}")
        # Two data+last registers, the two valid flags.
        assert res.ff == 2 * (p.data_bits + 1) + 2, res.as_row()
        assert res.dsp == 0 and res.bram36 == 0 and res.lut <= 2 * p.data_bits, res.as_row()


def test_regs_top_ports_are_named_from_the_table(tmp_path):
    (vfile,) = toolchain.convert(hw.regs_top(), "verilog", tmp_path, "axi_lite_regs")
    text = vfile.read_text()
    for r in rm.REGISTERS:
        assert (f"core_{r.port}" in text) != r.constant, r.name
    for port in ("axi_awready", "axi_wstrb", "axi_bresp", "axi_rdata", "core_mem_data_we",
                 "core_irq_set", "core_interrupt"):
        assert port in text


@pytest.mark.parametrize("name", ["axi_lite_regs", "axis_input", "axis_output"])
def test_tops_convert_to_vhdl_that_elaborates(ghdl, tmp_path, name):
    """The deliverable VHDL-2008 of each block analyses and elaborates in GHDL."""
    p = ref.AxisParams(lanes=3, lane_bits=7)
    inst = hw.regs_top() if name == "axi_lite_regs" else hw.stream_top(name.split("_")[1], p)
    files = toolchain.convert(inst, "vhdl", tmp_path, name)
    toolchain.ghdl_elaborate(files, name, tmp_path / "work")
