"""The accelerator top (hw/top.py), driven only through its AXI ports: memory images loaded
through the AXI4-Lite window, pixels streamed with random TVALID gaps, results read with random
TREADY stalls; results, cycles and SOPs equal the layer sequencer's reference and the Cython
evaluator. Error paths, the convertible bench in GHDL, the top converted without initial values
and run from reset, and Yosys counts of the whole top."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinspike.equivalence import profiles
from twinspike.ext.evaluate import evaluate
from twinspike.hw import top as ht
from twinspike.hw import toolchain
from twinspike.sw import layer_sequencer as seq
from twinspike.sw import register_map as rm
from twinspike.sw.network_model import Network, Population, Projection

# Tie-offs of the register file are undriven signals MyHDL converts to constants.
pytestmark = pytest.mark.filterwarnings("ignore:Signal is not driven",
                                        "ignore:Signal is driven but not read")
SMALL = dict(weight_depth=512, state_depth=256, bias_depth=64, geometry_depth=64,
             spike_depth=128, input_depth=64, table_depth=256)
DIGITS = seq.AcceleratorParams(lanes=8, weight_depth=1024, state_depth=512, bias_depth=256,
                               geometry_depth=128, spike_depth=128, input_depth=128,
                               table_depth=256)
TINY = seq.AcceleratorParams(lanes=2, weight_depth=64, state_depth=32, bias_depth=16,
                             geometry_depth=16, spike_depth=16, input_depth=16, table_depth=128)
DONE, ERR = 0b010, 0b110          # STATUS after a run: done; done and error (busy 0)


def tiny_net() -> Network:
    rng = np.random.default_rng(0)
    return Network((1, 2, 2), (Population("out", (3,), (Projection(
        "dense", "input", rng.integers(-8, 8, (3, 4))),), np.zeros(3, np.int64), 300, 100),),
        input_bits=8, weight_bits=6, membrane_bits=14)


def assert_matches(records, regs, want, n_outputs):
    """Per image class, first spike step and counts; CYCLES and SOPS the run's totals."""
    assert len(records) == len(want.predictions), "an image's results are missing or doubled"
    for b, r in enumerate(records):
        assert r["class"] == want.predictions[b]
        assert r["first_spike_step"] == want.first_spike_step[b]
        assert len(r["counts"]) == n_outputs
        np.testing.assert_array_equal(r["counts"], want.counts[b])
    assert regs["STATUS"] == DONE and regs["ERROR"] == 0
    assert regs["CYCLES"] - regs["STALLS"] == int(want.cycles.sum()), \
        "the cycle model (plus the cycles stalled on DDR), summed over the run"
    assert regs["WEIGHT_FILLS"] == int(want.weight_fills.sum())
    assert regs["SOPS"] == int(want.sops.sum())


def run_on_top(net, params, pixels, T, seed=0, poll=False, table_base=0, **host_kw):
    compiled = seq.compile_network(net, params)
    flat = np.asarray(pixels).reshape(len(pixels), -1)

    def scenario(host):
        yield from ht.run_batch(host, compiled, flat, T, poll=poll, table_base=table_base)

    host = ht.simulate_host(params, scenario, seed=seed, **host_kw)
    return compiled, ht.parse_results(host.results), host.regs


# ----------------------------------------------------------------------------- MyHDL, whole runs


def test_residual_network_through_the_axi_ports_equals_the_reference():
    from test_layer_sequencer import _residual_net

    net = _residual_net()
    images = np.random.default_rng(0).integers(0, 256, size=(2, 1, 6, 6))
    params = seq.AcceleratorParams(lanes=3, **SMALL)
    # The table at a non-zero TABLE_BASE; STATUS polled instead of the interrupt.
    compiled, records, regs = run_on_top(net, params, images, 3, seed=1, poll=True,
                                         table_base=40)
    want = seq.run(net, compiled, images, 3)
    assert_matches(records, regs, want, net.n_outputs)
    assert regs["TABLE_BASE"] == 40 and regs["LAYER_COUNT"] == 4 and regs["IMAGES"] == 2
    assert regs["IRQ"] == 1 and regs["VERSION"] == rm.VERSION_WORD
    assert regs["HW_PARAMS"] == ht.hw_params_word(params)
    np.testing.assert_array_equal([r["class"] for r in records],
                                  evaluate(net, images, 3).predictions)


def test_weights_in_ddr_through_the_axi4_master_equal_the_reference():
    """All but 16 weight words in DDR behind a two-line cache: the AXI4 master's bursts
    (random ARREADY and first-beat latency, RVALID gaps) fill the lines the reference
    predicts; the results do not change; STALLS is part of CYCLES."""
    from test_layer_sequencer import DDR_SMALL, _residual_net

    net = _residual_net()
    images = np.random.default_rng(4).integers(0, 256, size=(2, 1, 6, 6))
    params = seq.AcceleratorParams(lanes=3, **DDR_SMALL)
    compiled = seq.compile_network(net, params)

    def scenario(host):
        yield from ht.run_batch(host, compiled, images.reshape(2, -1), 3)

    host = ht.simulate_host(params, scenario, seed=3, gap=0.3, max_delay=3)
    want = seq.run(net, compiled, images, 3)
    assert_matches(ht.parse_results(host.results), host.regs, want, net.n_outputs)
    assert host.ddr_bursts == host.regs["WEIGHT_FILLS"] > 100 and host.regs["STALLS"] > 0
    assert host.regs["WEIGHT_ADDR"] == ht.DDR_BENCH_BASE


def test_a_ddr_read_error_is_error_6():
    from test_layer_sequencer import DDR_SMALL, _residual_net

    net = _residual_net()
    params = seq.AcceleratorParams(lanes=3, **DDR_SMALL)
    compiled = seq.compile_network(net, params)
    image = np.random.default_rng(4).integers(0, 256, size=(1, 36))

    def scenario(host):
        host.ddr_resp = 0b10                                       # SLVERR
        yield from ht.run_batch(host, compiled, image, 2)

    host = ht.simulate_host(params, scenario, seed=3)
    assert host.regs["STATUS"] == ERR and host.regs["ERROR"] == rm.ERROR["DDR_READ"]
    assert host.results == []


def test_after_a_ddr_error_a_soft_reset_is_enough():
    """The burst cut short by ERROR 6 is drained by the top (AXI cannot take an AR back), so
    after a soft reset the next run reads the right lines and gives the right results."""
    from test_layer_sequencer import DDR_SMALL, _residual_net

    net = _residual_net()
    params = seq.AcceleratorParams(lanes=3, **DDR_SMALL)
    compiled = seq.compile_network(net, params)
    images = np.random.default_rng(4).integers(0, 256, size=(1, 1, 6, 6))

    def scenario(host):
        host.ddr_resp = 0b10                                       # SLVERR: ERROR 6
        yield from ht.run_batch(host, compiled, images.reshape(1, -1), 2)
        assert host.regs["ERROR"] == rm.ERROR["DDR_READ"]
        host.ddr_resp = 0
        yield from host.write(rm.offset("CONTROL"), rm.field_value("CONTROL", soft_reset=1))
        host.results.clear()
        yield from ht.run_batch(host, compiled, images.reshape(1, -1), 2)

    host = ht.simulate_host(params, scenario, seed=3)
    want = seq.run(net, compiled, images, 2)
    assert_matches(ht.parse_results(host.results), host.regs, want, net.n_outputs)


@pytest.mark.parametrize("model", ["resnet18", "vgg11"])
def test_deep_models_run_from_their_memory_images_like_the_cython_evaluator(model):
    """ResNet-18 and VGG-11 of `twinspike accuracy` (width 0.5, 8-bit) on the default
    AcceleratorParams: 32,768 weight words on chip and the other ~256k-327k in DDR; the
    reference sequencer, which computes from the memory images word address by word address
    as the hardware does (DDR lines through the cache included), equals the Cython
    evaluator."""
    from networks import accuracy_net
    from twinspike.data import load_digits_split

    net = accuracy_net(model, 0.5)
    compiled = seq.compile_network(net, seq.AcceleratorParams())
    use = {u.memory: u.used for u in compiled.use}
    assert use["weight"] == 32_768 and use["weight_ddr"] > 250_000
    images = load_digits_split().x_test[:1]
    got, fast = seq.run(net, compiled, images, 8), evaluate(net, images, 8)
    np.testing.assert_array_equal(got.counts, fast.counts)
    np.testing.assert_array_equal(got.sops, fast.sops)
    assert got.weight_fills[0] > 1000
    # Untrained, VGG-11's signal dies out in its last two populations; ResNet-18's shortcuts
    # carry it to the output. Either way every DDR-held layer receives events.
    silent = 0 if model == "resnet18" else 2
    assert (fast.population_spikes[0, :len(net.populations) - silent] > 0).all()


def test_resnet18_on_the_top_with_ddr_weights_equals_cython():
    """ResNet-18 through the AXI ports of the MyHDL top, its weights beyond the on-chip
    memory read over the AXI4 master: CI runs the topology at width 0.125 with 1,024 words on
    chip (~21k in DDR), the deep profile the recipe's width 0.5 on the default
    AcceleratorParams (~327k words in DDR; about 10 minutes)."""
    from networks import resnet18_net
    from twinspike.data import load_digits_split

    deep = profiles.PROFILE == "deep"
    net = resnet18_net(0.5 if deep else 0.125)
    params = seq.AcceleratorParams() if deep else seq.AcceleratorParams(weight_depth=1024)
    T = 8 if deep else 2
    images = load_digits_split().x_test[:1]
    compiled, records, regs = run_on_top(net, params, images, T, seed=5)
    want = seq.run(net, compiled, images, T)
    assert_matches(records, regs, want, net.n_outputs)
    fast = evaluate(net, images, T)
    np.testing.assert_array_equal([r["counts"] for r in records], fast.counts)
    assert regs["WEIGHT_FILLS"] > 200 and regs["STALLS"] > 0
    assert (fast.population_spikes > 0).all(), "a silent population would make this vacuous"


def test_rate_encoded_network_through_the_axi_ports_equals_cython():
    """The pixels stream in as for a direct network; the core's encoder pass turns them into
    Bernoulli spike trains with the network's LFSR lanes (sw/rate_encoder semantics)."""
    from networks import dense_net
    from twinspike.data import load_digits_split

    net = dense_net("rate")
    images = load_digits_split().x_test[:2]
    params = seq.AcceleratorParams(**{**DIGITS.__dict__, "table_depth": 512})
    compiled, records, regs = run_on_top(net, params, images, 4, seed=6, gap=0.4, stall=0.5)
    want, fast = seq.run(net, compiled, images, 4), evaluate(net, images, 4)
    assert_matches(records, regs, want, net.n_outputs)
    np.testing.assert_array_equal([r["counts"] for r in records], fast.counts)
    assert fast.counts.sum() > 0


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_digits_networks_through_the_axi_ports_equal_reference_and_cython(name):
    from networks import conv_net, dense_net
    from twinspike.data import load_digits_split

    net = dense_net("direct") if name == "mlp" else conv_net()
    images = load_digits_split().x_test[:3]
    compiled, records, regs = run_on_top(net, DIGITS, images, 4, seed=2, gap=0.4, stall=0.5)
    want = seq.run(net, compiled, images, 4)
    assert_matches(records, regs, want, net.n_outputs)
    fast = evaluate(net, images, 4)
    np.testing.assert_array_equal([r["class"] for r in records], fast.predictions)
    np.testing.assert_array_equal([r["counts"] for r in records], fast.counts)
    assert regs["SOPS"] == int(fast.sops.sum())
    assert (fast.population_spikes > 0).all(), "a silent population would make this vacuous"


@settings(max_examples=max(2, profiles.examples("myhdl") // 3), deadline=None)
@given(seed=st.integers(0, 2**16), gap=st.sampled_from([0.0, 0.5, 0.9]),
       stall=st.sampled_from([0.0, 0.5, 0.9]), delay=st.integers(0, 4))
def test_random_gaps_stalls_and_bus_delays_lose_nothing(seed, gap, stall, delay):
    net = tiny_net()
    images = np.random.default_rng(seed).integers(0, 256, size=(3, 1, 2, 2))
    compiled, records, regs = run_on_top(net, TINY, images, 3, seed=seed, gap=gap,
                                         stall=stall, max_delay=delay)
    assert_matches(records, regs, seq.run(net, compiled, images, 3), net.n_outputs)


# ----------------------------------------------------------------------------- error paths


def test_errors_are_reported_and_a_soft_reset_recovers():
    net = tiny_net()
    compiled = seq.compile_network(net, TINY)
    good = np.random.default_rng(5).integers(1, 256, size=(1, 4))
    want = seq.run(net, compiled, good.reshape(1, 1, 2, 2), 3)
    seen = {}

    def step(host, name, n_results=0):
        yield from ht.wait_end(host)
        yield from ht.read_regs(host)
        seen[name] = dict(host.regs, results=len(host.results) - n_results)
        yield from host.write(rm.offset("IRQ"), 1)
        yield from host.write(rm.offset("CONTROL"), rm.field_value("CONTROL", soft_reset=1,
                                                                   irq_enable=1))
        yield from host.reg("STATUS")
        seen[name]["status_after_reset"] = host.value

    def scenario(host):
        control = rm.offset("CONTROL")
        # 1. Nothing loaded: the table's magic is missing.
        yield from host.writes(ht.host_setup(None, 3, 1))
        yield from host.reg("STATUS")
        seen["idle"] = host.value
        yield from host.write(control, ht.start_word())
        yield from step(host, "magic")
        # 2. Load, T = 0.
        yield from host.writes(ht.host_setup(compiled, 0, 1))
        yield from host.write(control, ht.start_word())
        yield from step(host, "T")
        # 3. An image two pixels short (TLAST on its second pixel).
        yield from host.write(rm.offset("T"), 3)
        host.beats += [(7, 0), (9, 1)]
        yield from host.write(control, ht.start_word())
        yield from step(host, "short")
        # 4. After the soft reset a good image runs; the memories were kept.
        host.beats += ht.pixel_beats(good)
        yield from host.write(control, ht.start_word())
        yield from ht.wait_end(host)
        yield from ht.read_regs(host)
        seen["good"] = dict(host.regs)
        yield from host.write(rm.offset("IRQ"), 1)
        # 5. IMAGES = 0 ends at once.
        yield from host.write(rm.offset("IMAGES"), 0)
        yield from host.write(control, ht.start_word())
        yield from step(host, "empty", len(host.results))
        # 6. An image without TLAST on its last pixel (more pixels follow).
        yield from host.write(rm.offset("IMAGES"), 1)
        host.beats += [(3, 0)] * 6
        yield from host.write(control, ht.start_word())
        yield from step(host, "long", len(host.results))

    host = ht.simulate_host(TINY, scenario, seed=3)
    assert seen["idle"] == 0, "an unloaded table raises nothing before a start"
    codes = {name: seen[name]["ERROR"] for name in ("magic", "T", "short", "long")}
    assert codes == {"magic": rm.ERROR["BAD_MAGIC"], "T": rm.ERROR["T_RANGE"],
                     "short": rm.ERROR["INPUT_SHORT"], "long": rm.ERROR["INPUT_LONG"]}
    for name in ("magic", "T", "short", "long"):
        assert seen[name]["STATUS"] == ERR and seen[name]["IRQ"] == 1, name
        assert seen[name]["status_after_reset"] == 0, name
    assert seen["magic"]["results"] == 0 and seen["long"]["results"] == 0
    assert seen["empty"]["STATUS"] == DONE and seen["empty"]["results"] == 0
    records = ht.parse_results(host.results)
    assert len(records) == 1
    assert_matches(records, seen["good"], want, net.n_outputs)


def test_layer_count_is_checked_on_the_host_side_and_by_the_core():
    compiled = seq.compile_network(tiny_net(), TINY)
    ht.check_layer_count(compiled, 1)
    with pytest.raises(ValueError, match="LAYER_COUNT=2, but the layer table has 1 population"):
        ht.host_setup(compiled, 3, 1, layer_count=2)
    pixels = np.random.default_rng(5).integers(1, 256, size=(1, 4))
    seen = {}

    def scenario(host):
        yield from host.writes(ht.host_setup(compiled, 3, 1))
        yield from host.write(rm.offset("LAYER_COUNT"), 2)     # a host that skips the check
        host.beats += ht.pixel_beats(pixels)
        yield from host.write(rm.offset("CONTROL"), ht.start_word())
        yield from ht.wait_end(host)
        yield from ht.read_regs(host)
        seen.update(host.regs)

    host = ht.simulate_host(TINY, scenario)
    assert seen["STATUS"] == ERR and seen["ERROR"] == rm.ERROR["LAYER_COUNT"] == 5
    assert host.results == []


def test_window_writes_follow_the_register_map_layout():
    """``host_setup`` loads each memory with ``memory_writes`` (chunk addresses ``w * C + j``)."""
    compiled = seq.compile_network(tiny_net(), TINY)
    writes = ht.host_setup(compiled, 3, 1, table_base=5)
    data = [v for a, v in writes if a == rm.offset("MEM_DATA")]
    words = ht.memory_words(compiled)
    chunks = {m: rm.chunks_per_word(ht.word_bits(m, TINY)) for m in rm.MEMORIES}
    assert chunks == {"table": 1, "weight": 1, "bias": 2, "geometry": 4}   # 72 bits: 3 + 1 padding
    assert len(data) == sum(len(words[m]) * chunks[m] for m in rm.MEMORIES)
    assert (rm.offset("MEM_ADDR"), 5) in writes               # the table at TABLE_BASE
    assert ht.PORT_NAMES[:2] == ("aclk", "aresetn") and ht.PORT_NAMES[-1] == "interrupt"
    s = ht.ports(TINY)
    assert len(s["s_axis_tdata"]) == 8 and len(s["m_axis_tdata"]) == 32
    assert len(ht.ports(seq.AcceleratorParams(input_bits=5))["s_axis_tdata"]) == 8     # whole bytes


# ----------------------------------------------------------------------------- GHDL


def _mlp_case(name: str = "mlp", n: int = 2):
    from networks import conv_net, dense_net
    from twinspike.data import load_digits_split

    net = dense_net("direct") if name == "mlp" else conv_net()
    images = load_digits_split().x_test[:n]
    return net, seq.compile_network(net, DIGITS), images


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_converted_top_bench_runs_in_ghdl_like_myhdl(name, ghdl, tmp_path):
    """The converted VHDL top, from a VHDL bench that loads it over AXI4-Lite, streams real
    digits test images and reads the result stream (2 images; 20 in the deep profile): GHDL
    prints what MyHDL prints, and the results are the reference's and the Cython evaluator's."""
    net, compiled, images = _mlp_case(name, 20 if profiles.PROFILE == "deep" else 2)
    flat = images.reshape(len(images), -1)
    result = toolchain.verify_vhdl(ht.testbench(compiled, flat, 4), workdir=tmp_path)
    assert result.ok, result.diff[:3000]
    got = ht.parse_lines(result.ghdl_lines)
    assert got["bus_errors"] == []
    assert_matches(got["records"], got["regs"], seq.run(net, compiled, images, 4),
                   net.n_outputs)
    fast = evaluate(net, images, 4)
    np.testing.assert_array_equal([r["class"] for r in got["records"]], fast.predictions)
    np.testing.assert_array_equal([r["counts"] for r in got["records"]], fast.counts)
    assert got["regs"]["IRQ"] == 1 and got["regs"]["IRQ_AFTER"] == 0


def test_top_without_initial_values_runs_from_reset_in_ghdl(ghdl, tmp_path):
    """The top converted with ``initial_values`` off (every signal starts 'U' in GHDL, as
    a board's flip-flops carry no simulation value) and run from ``aresetn`` by the bench
    (its own signals initialised) prints exactly what MyHDL prints."""
    net, compiled, images = _mlp_case()
    flat = images.reshape(len(images), -1)
    mine, theirs = ht.run_split_ghdl(compiled, flat, 4, tmp_path)
    dut = (tmp_path / "dut" / "accelerator_top.vhd").read_text()
    declared = [ln for ln in dut.splitlines() if ln.startswith("signal ")]
    assert declared and not [ln for ln in declared if ":=" in ln], "initial values in the top"
    assert "entity work.accelerator_top" in (tmp_path / "tb" / "top_tb.vhd").read_text()
    assert [m.lower() for m in mine] == [g.lower() for g in theirs]
    got = ht.parse_lines(theirs)
    assert_matches(got["records"], got["regs"], seq.run(net, compiled, images, 4),
                   net.n_outputs)


# ----------------------------------------------------------------------------- Yosys


def test_whole_top_fits_the_xc7z020(yosys, tmp_path):
    """One synthesis (about a minute): the whole top at the default AcceleratorParams."""
    res = toolchain.synth_xc7(ht.top(), "accelerator_top", tmp_path)
    print(f"accelerator_top (default AcceleratorParams): {res.as_row()}")
    assert res.lut <= 53_200 and res.ff <= 106_400 and res.dsp <= 220 and res.bram36 <= 140
    # Measured 2026-12-02: LUT 9,467, FF 4,069, DSP 8, BRAM36 133.5 (the DDR weight cache: 2,
    # the 8k-word spike memory: 7, the rate encoder's LFSR states: 1). The AXI plumbing adds
    # logic, no DSP and no block RAM.
    assert res.dsp == 8 and res.bram36 == 133.5
