"""The layer sequencer's reference (sw/layer_sequencer.py): a compiled network, run from its
memory images alone, computes exactly what the network evaluators compute."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinspike.equivalence import network as eqn
from twinspike.equivalence import profiles
from twinspike.ext.evaluate import evaluate
from twinspike.sw import layer_sequencer as seq
from twinspike.sw import network as ref
from twinspike.sw.network_model import Network, Population, Projection

FIELDS = ("spikes", "counts", "predictions", "membranes", "sops", "population_spikes")


def _direct(net: Network) -> Network:
    return dataclasses.replace(net, encoding="direct") if net.encoding != "direct" else net


def _flat_dense_only(net: Network) -> bool:
    return not any(len(p.shape) == 3 and p.shape[1] * p.shape[2] > 1
                   and any(q.kind == "dense" for q in p.projections) for p in net.populations)


@profiles.settings_for("cython")
@given(case=eqn.cases(), lanes=st.integers(1, 9), word_bits=st.integers(1, 40))
def test_compiled_images_run_like_the_evaluators(case, lanes, word_bits):
    net, images, T = case                   # direct and rate-encoded networks alike
    # Lanes of more than 64 bits of weights cannot come from DDR (one word per beat).
    params = seq.AcceleratorParams(lanes=lanes, spike_word_bits=word_bits, max_classes=256,
                                   external_weight_depth=0 if lanes * 8 > 64 else 1 << 22)
    rate_rows = net.encoding == "rate" and len(net.input_shape) == 3 and \
        net.input_shape[2] > word_bits
    if rate_rows or any(len(p.shape) == 3 and p.shape[2] > word_bits for p in net.populations):
        with pytest.raises(ValueError, match="do not fit a .*-bit spike word|dense projection"):
            seq.compile_network(net, params)
        return
    if not _flat_dense_only(net):
        with pytest.raises(ValueError, match="dense projection into a"):
            seq.compile_network(net, params)
        return
    compiled = seq.compile_network(net, params)
    got = seq.run(net, compiled, images, T)
    want, fast = ref.run(net, images, T), evaluate(net, images, T)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        np.testing.assert_array_equal(getattr(got, name), getattr(fast, name), err_msg=name)
    first = np.array([np.flatnonzero(s.any(axis=1))[0] + 1 if s.any() else 0
                      for s in want.spikes])
    np.testing.assert_array_equal(got.first_spike_step, first)


def _residual_net() -> Network:
    rng = np.random.default_rng(3)
    conv = lambda c_out, c_in: rng.integers(-20, 21, size=(c_out, c_in, 3, 3))  # noqa: E731
    pops = (Population("c1", (4, 6, 6), (Projection("conv", "input", conv(4, 1), 3, 1, 1),),
                       np.repeat(rng.integers(-5, 6, 4), 36), 60, 30),
            Population("c2", (4, 6, 6), (Projection("conv", "c1", conv(4, 4), 3, 1, 1),
                                         Projection("identity", "c1")),
                       np.zeros(144, np.int64), 40, 20),
            Population("p", (4, 3, 3), (Projection("pool", "c2", None, 2, 2),),
                       np.arange(36) % 3, 3, 1),
            Population("out", (10,), (Projection("dense", "p", rng.integers(-30, 31, (10, 36))),),
                       np.zeros(10, np.int64), 50, 25))
    return Network((1, 6, 6), pops, input_bits=8, weight_bits=6, membrane_bits=14)


def test_residual_pool_and_per_neuron_bias_network_runs_like_the_evaluator():
    net = _residual_net()
    images = np.random.default_rng(0).integers(0, 256, size=(3, 1, 6, 6))
    compiled = seq.compile_network(net, seq.AcceleratorParams(lanes=3))
    got, want = seq.run(net, compiled, images, 6), evaluate(net, images, 6)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    _, pops, projs = seq.decode_table(compiled.table)
    assert [p["bias_mode"] for p in pops] == [0, 0, 1, 0]    # p's bias varies per position
    assert [q["kind"] for q in projs] == [1, 1, 3, 2, 0]
    assert got.sops.min() > 0


def test_weight_memory_is_the_sum_over_layers():
    net = _residual_net()
    use = {u.memory: u for u in seq.compile_network(net, seq.AcceleratorParams(lanes=4)).use}
    # rows x cwords(C_out): conv 1*9 x 1, conv 4*9 x 1, identity and pool 0, dense 36 x 3
    assert use["weight"].used == 9 + 36 + 36 * 3
    assert use["state"].used == 36 + 36 + 9 + 3 and use["input"].used == 36
    assert use["spike"].used == 4 * 6 + 4 * 6 + 4 * 3 + 1           # bitmap rows (c, y)
    assert use["bias"].used == 1 + 1 + 9 + 3


def test_table_decodes_to_what_was_compiled():
    net = _residual_net()
    compiled = seq.compile_network(net, seq.AcceleratorParams(lanes=4))
    header, pops, projs = seq.decode_table(compiled.table)
    assert header["magic"] == seq.MAGIC and header["n_populations"] == 4
    assert header["membrane_bits"] == 14 and header["lanes"] == 4
    assert [(p["channels"], p["height"], p["width"], p["theta"], p["v0"]) for p in pops] == [
        (4, 6, 6, 60, 30), (4, 6, 6, 40, 20), (4, 3, 3, 3, 1), (10, 1, 1, 50, 25)]
    assert projs[0]["source"] == seq.INPUT_SOURCE and projs[2]["source"] == 0
    negative = dataclasses.replace(net, populations=(dataclasses.replace(
        net.populations[0], v0=-7),) + net.populations[1:])
    _, pops, _ = seq.decode_table(seq.compile_network(negative, seq.AcceleratorParams()).table)
    assert pops[0]["v0"] == -7
    with pytest.raises(ValueError, match="not a layer table"):
        seq.decode_table(np.zeros(20, np.uint32))
    with pytest.raises(ValueError, match="its header says"):
        seq.decode_table(compiled.table[:-1])


def test_networks_that_do_not_fit_name_the_memory_and_the_shortfall():
    net = _residual_net()
    small = seq.AcceleratorParams(lanes=4, weight_depth=100, state_depth=50,
                                  external_weight_depth=0)
    with pytest.raises(ValueError, match=r"weight memory needs 153 words, the accelerator has "
                                         r"100 \(short by 53\); state memory needs 84 words, "
                                         r"the accelerator has 50 \(short by 34\)"):
        seq.compile_network(net, small)
    # With DDR behind the on-chip weights the shortfall is over both.
    ddr = seq.AcceleratorParams(lanes=4, weight_depth=64, external_weight_depth=80)
    with pytest.raises(ValueError, match=r"weight memory needs 153 words \(the sum over "
                                         r"projections\), the accelerator has 64 on chip \+ 80 "
                                         r"in DDR \(short by 9\)"):
        seq.compile_network(net, ddr)
    use = {u.memory: u for u in seq.compile_network(
        net, seq.AcceleratorParams(lanes=4, weight_depth=64)).use}
    assert (use["weight"].used, use["weight_ddr"].used) == (64, 153 - 64)


def test_what_the_accelerator_refuses_is_named():
    net = _residual_net()
    with pytest.raises(ValueError, match="input rows of 6 pixels do not fit a 4-bit spike word"):
        seq.compile_network(dataclasses.replace(net, encoding="rate"),
                            seq.AcceleratorParams(spike_word_bits=4))
    with pytest.raises(ValueError, match="membrane_bits=14, the accelerator has 12"):
        seq.compile_network(net, seq.AcceleratorParams(membrane_bits=12))
    with pytest.raises(ValueError, match="AcceleratorParams.lanes=0"):
        seq.AcceleratorParams(lanes=0)


# ----------------------------------------------------------------------------- the MyHDL twin

SMALL = dict(weight_depth=512, state_depth=256, bias_depth=64, geometry_depth=64,
             spike_depth=128, input_depth=64, table_depth=256)


def _hw_records(net, params, images, T):
    from twinspike.hw import layer_sequencer as hw

    compiled = seq.compile_network(net, params)
    got = hw.run_bench(compiled, np.asarray(images).reshape(len(images), -1), T)
    want = seq.run(net, compiled, images, T)
    assert len(got) == len(images)
    for b, record in enumerate(got):
        assert record["error"] == 0
        assert record["class"] == want.predictions[b]
        assert record["first_spike_step"] == want.first_spike_step[b]
        np.testing.assert_array_equal(record["counts"], want.counts[b])
        assert record["sops"] == want.sops[b]
        assert record["cycles"] - record["stalls"] == want.cycles[b], "the cycle model"
        assert record["fills"] == want.weight_fills[b], "the DDR line fills"
        assert (record["stalls"] > 0) == (record["fills"] > 0)
    return got, want


def test_myhdl_sequencer_runs_a_residual_network_like_the_reference():
    net = _residual_net()
    images = np.random.default_rng(0).integers(0, 256, size=(2, 1, 6, 6))
    _, want = _hw_records(net, seq.AcceleratorParams(lanes=3, **SMALL), images, 3)
    np.testing.assert_array_equal(want.predictions, evaluate(net, images, 3).predictions)


#: Weights mostly in DDR: 16 words on chip, a cache of two 4-word lines (misses galore).
DDR_SMALL = {**SMALL, "weight_depth": 16, "cache_lines": 2, "line_words": 4}


def test_myhdl_sequencer_reads_ddr_weights_like_the_reference():
    """The residual network with all but 16 weight words in DDR, through a two-line cache:
    the same outputs, the DDR line fills the reference predicts, and the cycle model plus the
    stalled cycles."""
    net = _residual_net()
    images = np.random.default_rng(0).integers(0, 256, size=(2, 1, 6, 6))
    got, want = _hw_records(net, seq.AcceleratorParams(lanes=3, **DDR_SMALL), images, 3)
    assert want.weight_fills.min() > 50 and min(r["stalls"] for r in got) > 0
    np.testing.assert_array_equal(want.counts, evaluate(net, images, 3).counts)


@settings(max_examples=max(2, profiles.examples("myhdl") // 5))
@given(case=eqn.cases(max_populations=3, max_batch=2, max_T=3), lanes=st.integers(1, 4),
       ddr=st.booleans())
def test_myhdl_sequencer_equals_the_reference_on_random_networks(case, lanes, ddr):
    net, images, T = case                   # direct and rate-encoded networks alike
    params = seq.AcceleratorParams(lanes=lanes, spike_word_bits=16, max_classes=64,
                                   **(DDR_SMALL if ddr else SMALL))
    try:
        seq.compile_network(net, params)
    except ValueError:
        return                      # refusals are tested on the reference
    _hw_records(net, params, images, T)


def test_converted_sequencer_bench_runs_in_ghdl_like_myhdl(ghdl, tmp_path):
    from twinspike.hw import layer_sequencer as hw
    from twinspike.hw import toolchain

    net = _residual_net()
    compiled = seq.compile_network(net, seq.AcceleratorParams(lanes=3, **SMALL))
    images = np.random.default_rng(2).integers(0, 256, size=(1, 36))
    result = toolchain.verify_vhdl(hw.testbench(compiled, images, 2), workdir=tmp_path)
    assert result.ok, result.diff[:3000]
    record = hw.parse_lines(compiled, result.ghdl_lines)[0]
    want = seq.run(net, compiled, images.reshape(1, 1, 6, 6), 2)
    assert record["class"] == want.predictions[0] and record["cycles"] == want.cycles[0]
    np.testing.assert_array_equal(record["counts"], want.counts[0])


def test_converted_sequencer_reads_ddr_weights_in_ghdl_like_myhdl(ghdl, tmp_path):
    """The cache, its AXI4 read master and the bench DDR (hw/axi.bench_ddr) as VHDL."""
    from twinspike.hw import layer_sequencer as hw
    from twinspike.hw import toolchain

    net = _residual_net()
    compiled = seq.compile_network(net, seq.AcceleratorParams(lanes=3, **DDR_SMALL))
    images = np.random.default_rng(2).integers(0, 256, size=(1, 36))
    result = toolchain.verify_vhdl(hw.testbench(compiled, images, 2), workdir=tmp_path)
    assert result.ok, result.diff[:3000]
    record = hw.parse_lines(compiled, result.ghdl_lines)[0]
    want = seq.run(net, compiled, images.reshape(1, 1, 6, 6), 2)
    assert record["class"] == want.predictions[0] and record["fills"] == want.weight_fills[0] > 0
    assert record["cycles"] - record["stalls"] == want.cycles[0]
    np.testing.assert_array_equal(record["counts"], want.counts[0])


def test_rate_input_runs_like_the_evaluators():
    """Rate-encoded networks: the table carries each pixel's LFSR lane seed; every timestep
    opens with the encoder pass (sw/rate_encoder semantics) writing the input spike bitmap,
    which the input's projections scan like any population's."""
    from networks import conv_net, dense_net
    from twinspike.data import load_digits_split

    images = load_digits_split().x_test[:3]
    for net in (dense_net("rate"), dataclasses.replace(conv_net(), encoding="rate")):
        compiled = seq.compile_network(net, seq.AcceleratorParams())
        header, _, _ = seq.decode_table(compiled.table)
        assert header["encoding"] == seq.ENCODING_CODES["rate"] and header["input_rows"] == 8
        got, fast = seq.run(net, compiled, images, 5), evaluate(net, images, 5)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(got, name), getattr(fast, name), err_msg=name)
        assert (fast.population_spikes > 0).all()


def test_converted_sequencer_runs_rate_input_in_ghdl_like_myhdl_and_cython(ghdl, tmp_path):
    from networks import dense_net
    from twinspike.data import load_digits_split
    from twinspike.hw import layer_sequencer as hw
    from twinspike.hw import toolchain

    net = dense_net("rate")
    images = load_digits_split().x_test[:2]
    params = seq.AcceleratorParams(lanes=8, weight_depth=1024, state_depth=512, bias_depth=256,
                                   geometry_depth=128, spike_depth=128, input_depth=128,
                                   table_depth=512)
    compiled = seq.compile_network(net, params)
    result = toolchain.verify_vhdl(hw.testbench(compiled, images.reshape(2, -1), 4),
                                   workdir=tmp_path)
    assert result.ok, result.diff[:3000]
    records = hw.parse_lines(compiled, result.ghdl_lines)
    fast, model = evaluate(net, images, 4), seq.run(net, compiled, images, 4)
    np.testing.assert_array_equal([r["counts"] for r in records], fast.counts)
    np.testing.assert_array_equal([r["sops"] for r in records], fast.sops)
    np.testing.assert_array_equal([r["cycles"] for r in records], model.cycles)
    assert fast.counts.sum() > 0


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_myhdl_sequencer_runs_digits_networks_like_the_cython_evaluator(name):
    """Real digits test images through an MLP (64-20-10) and a CNN (conv, pool, two conv
    banks into one population, pool, dense) on one synthesised configuration."""
    from networks import conv_net, dense_net
    from twinspike.data import load_digits_split

    net = dense_net("direct") if name == "mlp" else conv_net()
    images = load_digits_split().x_test[:3]
    params = seq.AcceleratorParams(lanes=8, weight_depth=1024, state_depth=512, bias_depth=256,
                                   geometry_depth=128, spike_depth=128, input_depth=128,
                                   table_depth=256)
    got, want = _hw_records(net, params, images, 4)
    fast = evaluate(net, images, 4)
    np.testing.assert_array_equal([r["class"] for r in got], fast.predictions)
    np.testing.assert_array_equal([r["counts"] for r in got], fast.counts)
    np.testing.assert_array_equal([r["sops"] for r in got], fast.sops)
    assert (fast.population_spikes > 0).all(), "a silent population would make this vacuous"


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_converted_sequencer_runs_digits_in_ghdl_like_the_cython_evaluator(name, ghdl, tmp_path):
    """The converted VHDL bench in GHDL on real digits test images (2 in CI, 20 in the deep
    profile): line for line MyHDL's output, and the Cython evaluator's classes and counts."""
    from networks import conv_net, dense_net
    from twinspike.data import load_digits_split
    from twinspike.hw import layer_sequencer as hw
    from twinspike.hw import toolchain

    n = 20 if profiles.PROFILE == "deep" else 2
    net = dense_net("direct") if name == "mlp" else conv_net()
    images = load_digits_split().x_test[:n]
    params = seq.AcceleratorParams(lanes=8, weight_depth=1024, state_depth=512, bias_depth=256,
                                   geometry_depth=128, spike_depth=128, input_depth=128,
                                   table_depth=256)
    compiled = seq.compile_network(net, params)
    result = toolchain.verify_vhdl(hw.testbench(compiled, images.reshape(n, -1), 4),
                                   workdir=tmp_path)
    assert result.ok, result.diff[:3000]
    records = hw.parse_lines(compiled, result.ghdl_lines)
    fast, model = evaluate(net, images, 4), seq.run(net, compiled, images, 4)
    np.testing.assert_array_equal([r["class"] for r in records], fast.predictions)
    np.testing.assert_array_equal([r["counts"] for r in records], fast.counts)
    np.testing.assert_array_equal([r["sops"] for r in records], fast.sops)
    np.testing.assert_array_equal([r["cycles"] for r in records], model.cycles)


def test_a_wrong_layer_count_is_error_5_and_runs_nothing():
    from twinspike.hw import layer_sequencer as hw

    net = _residual_net()
    compiled = seq.compile_network(net, seq.AcceleratorParams(lanes=3, **SMALL))
    images = np.random.default_rng(0).integers(0, 256, size=(1, 36))
    records = hw.run_bench(compiled, images, 2, layer_count=3)
    assert records == [{"error": hw.ERR_LAYERS}] and hw.ERR_LAYERS == 5
