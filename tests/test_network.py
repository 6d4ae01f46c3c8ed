"""The network model (validation, files) and its two evaluators (Cython == reference)."""
import json
import os
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twinspike.ext import evaluate as fast
from twinspike.equivalence import network as eq
from twinspike.equivalence import profiles
from twinspike.equivalence.harness import assert_same
from twinspike.ext import network as cy
from twinspike.network import Network, Population, Projection, load, save
from twinspike.sw import network as ref


def dense(source, weight):
    return Projection("dense", source, np.asarray(weight))


def pop(name, shape, projections, theta=4, bias=None, **kw):
    size = int(np.prod(shape))
    return Population(name, shape, tuple(projections),
                      np.zeros(size, int) if bias is None else np.asarray(bias), theta, **kw)


def small_cnn(**kw):
    """conv(stride 2, pad 1) -> pool -> residual (identity + 1x1 conv) -> dense."""
    rng = np.random.default_rng(7)
    return Network((2, 6, 6), (
        pop("conv", (3, 3, 3), [Projection("conv", "input", rng.integers(-8, 8, (3, 2, 3, 3)),
                                           kernel=3, stride=2, padding=1)], theta=20, v0=10),
        pop("pool", (3, 1, 1), [Projection("pool", "conv", kernel=2, stride=2)], theta=2),
        pop("res", (3, 1, 1), [Projection("identity", "pool"),
                               Projection("conv", "pool", rng.integers(-8, 8, (3, 3, 1, 1)))],
            theta=3, leak_shift=1),
        pop("out", (4,), [dense("res", rng.integers(-8, 8, (4, 3))),
                          dense("conv", rng.integers(-8, 8, (4, 27)))], theta=9,
            bias=[1, -2, 0, 3])),
        weight_bits=4, membrane_bits=12, metadata={"model": "small_cnn", "scale": [0.5, 2]}, **kw)


# ----------------------------------------------------------------------- the model

def test_small_cnn_is_valid_and_knows_its_sizes():
    net = small_cnn()
    assert (net.n_inputs, net.n_outputs, net.output.name) == (72, 4, "out")
    assert net.shape_of("input") == (2, 6, 6) and net.shape_of("pool") == (3, 1, 1)


def test_arrays_are_frozen_copies():
    w = np.ones((2, 3), int)
    net = Network((3,), (pop("a", (2,), [dense("input", w)]),))
    w[0, 0] = 5
    assert net.output.projections[0].weight[0, 0] == 1
    with pytest.raises(ValueError):
        net.output.projections[0].weight[0, 0] = 2


@pytest.mark.parametrize("make,match", [
    (lambda: Projection("fancy", "input"), r"Projection.kind='fancy'.*dense, conv, pool, identity"),
    (lambda: Projection("dense", ""), r"Projection.source"),
    (lambda: Projection("dense", "input"), r"Projection.weight is required"),
    (lambda: Projection("pool", "input", np.ones((1, 1, 2, 2), int), kernel=2, stride=2),
     r"weight must be None"),
    (lambda: Projection("pool", "input", kernel=2, stride=1), r"stride == kernel"),
    (lambda: Projection("identity", "input", kernel=3, padding=1), r"identity: expected kernel=1"),
    (lambda: Projection("conv", "input", np.ones((1, 1, 3, 3), int), kernel=3, padding=3),
     r"Projection.padding=3 is out of range: expected 0..2"),
    (lambda: Projection("conv", "input", np.ones((1, 1, 2, 2), int), kernel=3),
     r"conv: weight shape \(1, 1, 2, 2\): expected \[c_out, c_in, 3, 3\]"),
    (lambda: Projection("conv", "input", np.ones((1, 1, 1, 1), int), stride=0),
     r"Projection.stride=0 is out of range: expected 1..32"),
    (lambda: dense("input", np.ones(3, int)), r"dense: expected a 2-D weight"),
    (lambda: dense("input", np.full((1, 1), 128)), r"Projection.weight holds 128.*-128..127"),
    (lambda: dense("input", np.ones((1, 1), int) * 0.5), r"Projection.weight must hold integers"),
    (lambda: pop("input", (1,), [dense("input", [[1]])]), r"Population.name='input'"),
    (lambda: pop("a", (2, 2), [dense("input", [[1]])]), r"Population\[a\].shape=\(2, 2\)"),
    (lambda: pop("a", (0,), [dense("input", [[1]])]), r"Population\[a\].shape\[0\]=0"),
    (lambda: pop("a", (1,), []), r"Population\[a\].projections: expected a non-empty tuple"),
    (lambda: pop("a", (2,), [dense("input", [[1]])], bias=[0]),
     r"Population\[a\].bias has shape \(1,\): expected \(2,\)"),
    (lambda: pop("a", (1,), [dense("input", [[1]])], theta=0),
     r"Population\[a\].theta=0 is out of range: expected 1..8388607"),
    (lambda: pop("a", (1,), [dense("input", [[1]])], leak_shift=-1),
     r"Population\[a\].leak_shift=-1"),
])
def test_impossible_projections_and_populations_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _net(**kw):
    args = dict(input_shape=(3,),
                populations=(pop("a", (2,), [dense("input", np.ones((2, 3), int))]),))
    args.update(kw)
    return lambda: Network(**args)


P0 = r"Network.populations\[0\] \('a'\)"


@pytest.mark.parametrize("make,match", [
    (_net(input_shape=(3, 4)), r"Network.input_shape=\(3, 4\)"),
    (_net(input_bits=9), r"Network.input_bits=9 is out of range: expected 1..8"),
    (_net(encoding="spiky"), r"Network.encoding='spiky': expected one of direct, rate"),
    (_net(weight_bits=1), r"Network.weight_bits=1 is out of range: expected 2..8"),
    (_net(weight_bits=8, membrane_bits=8), r"Network.membrane_bits=8 .* expected 9..24"),
    (_net(weight_bits=4, membrane_bits=25), r"Network.membrane_bits=25 .* expected 8..24"),
    (_net(input_bits=8, lfsr_width=7), r"Network.lfsr_width=7 .* expected 8..32"),
    (_net(seed=-1), r"Network.seed=-1"),
    (_net(metadata={"acc": np.float32(0.5)}), r"Network.metadata must be JSON-serialisable"),
    (_net(metadata={"acc": float("nan")}), r"Network.metadata must be JSON-serialisable"),
    (_net(metadata=[1]), r"Network.metadata must be a dict"),
    (_net(populations=()), r"Network.populations: expected a non-empty tuple"),
    (_net(input_shape=(5000,), encoding="rate",
          populations=(pop("a", (1,), [dense("input", np.ones((1, 5000), int))]),)),
     r"n_inputs \(one LFSR lane per pixel\)=5000 .* expected 1..4096"),
    (_net(weight_bits=2, populations=(pop("a", (2,), [dense("input", np.full((2, 3), 2))]),)),
     P0 + r".projections\[0\].weight holds 2, out of range: expected -2..1"),
    (_net(populations=(pop("a", (2,), [dense("input", np.ones((2, 3), int))], bias=[0, 300]),),
          weight_bits=4, membrane_bits=9),
     P0 + r".bias holds 300, out of range: expected -256..255"),
    (_net(populations=(pop("a", (2,), [dense("input", np.ones((2, 3), int))], theta=128),),
          weight_bits=4, membrane_bits=8), P0 + r".theta=128 is out of range: expected 1..127"),
    (_net(populations=(pop("a", (2,), [dense("input", np.ones((2, 3), int))], v0=-129),),
          weight_bits=4, membrane_bits=8), P0 + r".v0=-129 is out of range: expected -128..127"),
    (_net(populations=(pop("a", (2,), [dense("input", np.ones((2, 3), int))], leak_shift=8),),
          weight_bits=4, membrane_bits=8), P0 + r".leak_shift=8 is out of range: expected 0..7"),
    (_net(populations=(pop("a", (2,), [dense("b", np.ones((2, 3), int))]),)),
     P0 + r".projections\[0\].source='b': expected 'input' or an earlier population \(none\)"),
    (_net(populations=(pop("a", (2,), [dense("input", np.ones((2, 3), int))]),
                       pop("a", (2,), [dense("input", np.ones((2, 3), int))]))),
     r"Network.populations\[1\] \('a'\).name: duplicate"),
    (_net(populations=(pop("a", (2,), [dense("input", np.ones((2, 4), int))]),)),
     P0 + r".projections\[0\].weight has shape \(2, 4\): expected \(2, 3\)"),
    (_net(populations=(pop("a", (2,), [Projection("identity", "input")]),)),
     P0 + r".projections\[0\] identity: source shape \(3,\) != target shape \(2,\)"),
    (_net(populations=(pop("a", (1, 1, 1), [Projection("pool", "input", kernel=2, stride=2)]),)),
     P0 + r".projections\[0\] pool: source \(3,\) and target \(1, 1, 1\) must both be"),
])
def test_impossible_networks_raise_naming_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("shape,k,s,p", [((2, 2, 2), 3, 2, 1), ((1, 2, 3), 3, 2, 0),
                                         ((3, 2, 2), 3, 1, 0), ((1, 1, 1), 7, 1, 0)])
def test_conv_geometry_mismatch_names_expected_shape(shape, k, s, p):
    """On (1, 5, 5): k=3 s=2 p=1 gives (c, 3, 3); p=0 gives (c, 2, 2); k=3 s=1 gives
    (c, 3, 3); k=7 does not fit (size -1)."""
    w = np.ones((shape[0], 1, k, k), int)
    with pytest.raises(ValueError, match=r"conv: source \(1, 5, 5\) with weight .* gives "
                                         r"\(\d, -?\d, -?\d\): target shape is " + str(shape)
                                         .replace("(", r"\(").replace(")", r"\)")):
        Network((1, 5, 5), (pop("a", shape, [Projection("conv", "input", w, kernel=k, stride=s,
                                                        padding=p)]),))


# ----------------------------------------------------------------------- files

@profiles.settings_for("cython")
@given(net=eq.networks())
def test_save_load_round_trip(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "model"
    npz, js = save(net, path)
    assert load(path) == net and load(npz) == net and load(js) == net
    assert sorted(os.listdir(path.parent)) == ["model.json", "model.npz"]   # no temp files left


def test_round_trip_keeps_metadata_and_format_header(tmp_path):
    net = small_cnn()
    save(net, tmp_path / "m.npz")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert (doc["format"], doc["version"]) == ("twinspike-network", 1)
    back = load(tmp_path / "m")
    assert back == net and back.metadata == {"model": "small_cnn", "scale": [0.5, 2]}
    assert back != small_cnn(seed=2)


def test_save_replaces_existing_files_atomically(tmp_path):
    save(small_cnn(), tmp_path / "m")
    save(small_cnn(seed=5), tmp_path / "m")
    assert load(tmp_path / "m").seed == 5
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.npz"]


def _edit_json(tmp_path, edit):
    save(small_cnn(), tmp_path / "m")
    doc = json.loads((tmp_path / "m.json").read_text())
    edit(doc)
    (tmp_path / "m.json").write_text(json.dumps(doc))


def _edit_arrays(tmp_path, edit):
    save(small_cnn(), tmp_path / "m")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    edit(arrays)
    np.savez(tmp_path / "m.npz", **arrays)


def _del(doc, *keys):
    for key in keys[:-1]:
        doc = doc[key]
    del doc[keys[-1]]


def _set(doc, value, *keys):
    for key in keys[:-1]:
        doc = doc[key]
    doc[keys[-1]] = value


@pytest.mark.parametrize("edit,match", [
    (lambda d: _set(d, "other", "format"),
     r"m.json: format: 'other': expected 'twinspike-network'"),
    (lambda d: _set(d, 2, "version"), r"m.json: version: 2: this reader knows version 1"),
    (lambda d: _del(d, "version"), r"m.json: version: missing"),
    (lambda d: _del(d, "seed"), r"m.json: seed: missing"),
    (lambda d: _set(d, "8", "input_bits"), r"m.json: input_bits: expected int, got \"8\""),
    (lambda d: _set(d, True, "weight_bits"), r"m.json: weight_bits: expected int, got true"),
    (lambda d: _set(d, 1.5, "membrane_bits"), r"m.json: membrane_bits: expected int"),
    (lambda d: _set(d, [2, "6", 6], "input_shape"), r"m.json: input_shape: expected a list of int"),
    (lambda d: _set(d, {}, "populations"), r"m.json: populations: expected list"),
    (lambda d: _set(d, [], "metadata"), r"m.json: metadata: expected dict"),
    (lambda d: _set(d, 1, "extra"), r"m.json: : unexpected key\(s\) extra"),
    (lambda d: _set(d, "x", "populations", 0), r"m.json: populations\[0\]: expected an object"),
    (lambda d: _del(d, "populations", 1, "theta"), r"m.json: populations\[1\].theta: missing"),
    (lambda d: _set(d, None, "populations", 1, "name"),
     r"m.json: populations\[1\].name: expected str, got null"),
    (lambda d: _set(d, 0, "populations", 1, "color"),
     r"m.json: populations\[1\]: unexpected key\(s\) color"),
    (lambda d: _set(d, [3, 1], "populations", 1, "shape"),
     r"m.json: populations\[1\].shape=\(3, 1\): expected a tuple \(C, H, W\) or \(N,\)"),
    (lambda d: _set(d, "fancy", "populations", 1, "projections", 0, "kind"),
     r"m.json: populations\[1\].projections\[0\].kind: unknown projection kind 'fancy'"),
    (lambda d: _del(d, "populations", 3, "projections", 1, "stride"),
     r"m.json: populations\[3\].projections\[1\].stride: missing"),
    (lambda d: _set(d, "nowhere", "populations", 3, "projections", 1, "source"),
     r"m.json: Network.populations\[3\] \('out'\).projections\[1\].source='nowhere'"),
    (lambda d: _set(d, 0, "populations", 2, "theta"),
     r"m.json: Population\[res\].theta=0 is out of range"),
    (lambda d: _set(d, 2, "weight_bits"),
     r"m.json: Network.populations\[0\] \('conv'\).projections\[0\].weight holds -?\d+, "
     r"out of range: expected -2..1"),
    (lambda d: _set(d, "identity", "populations", 2, "projections", 1, "kind"),
     r"m.npz: unexpected array\(s\) p2.w1"),
    (lambda d: _set(d, "conv", "populations", 1, "projections", 0, "kind"),
     r"m.npz: array 'p1.w0' is missing"),
])
def test_load_rejects_malformed_json(tmp_path, edit, match):
    _edit_json(tmp_path, edit)
    with pytest.raises(ValueError, match=match):
        load(tmp_path / "m")


@pytest.mark.parametrize("edit,match", [
    (lambda a: a.pop("p3.w1"), r"m.npz: array 'p3.w1' is missing"),
    (lambda a: a.pop("p2.bias"), r"m.npz: array 'p2.bias' is missing"),
    (lambda a: a.update({"p9.w0": np.zeros(1, np.int8)}), r"m.npz: unexpected array\(s\) p9.w0"),
    (lambda a: a.update({"p0.w0": a["p0.w0"].astype(np.int16)}),
     r"m.npz: array 'p0.w0' has dtype int16: expected int8"),
    (lambda a: a.update({"p0.bias": a["p0.bias"].astype(np.float64)}),
     r"m.npz: array 'p0.bias' has dtype float64: expected int32"),
    (lambda a: a.update({"p0.bias": np.zeros(5, np.int32)}),
     r"m.npz: array 'p0.bias' has shape \(5,\): expected \(27,\)"),
    (lambda a: a.update({"p3.w0": np.zeros((4, 4), np.int8)}),
     r"m.json: Network.populations\[3\] \('out'\).projections\[0\].weight has shape \(4, 4\): "
     r"expected \(4, 3\)"),
    (lambda a: a.update({"p0.bias": np.full(27, 5000, np.int32)}),
     r"m.json: Network.populations\[0\] \('conv'\).bias holds 5000, out of range: "
     r"expected -2048..2047"),
])
def test_load_rejects_malformed_arrays(tmp_path, edit, match):
    _edit_arrays(tmp_path, edit)
    with pytest.raises(ValueError, match=match):
        load(tmp_path / "m")


def test_load_rejects_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="m.json: no such network file"):
        load(tmp_path / "m")
    save(small_cnn(), tmp_path / "m")
    (tmp_path / "m.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"m.npz: not a readable .npz file"):
        load(tmp_path / "m")
    (tmp_path / "m.json").write_text("{")
    with pytest.raises(ValueError, match=r"m.json: not valid JSON"):
        load(tmp_path / "m")
    (tmp_path / "m.json").write_text("[]")
    with pytest.raises(ValueError, match=r"m.json: : expected an object, got list"):
        load(tmp_path / "m")


def test_load_refuses_pickled_arrays(tmp_path):
    _edit_arrays(tmp_path, lambda a: a.update({"p0.bias": np.array([None] * 27, dtype=object)}))
    with pytest.raises(ValueError, match=r"m.npz: array 'p0.bias': Object arrays cannot be loaded"):
        load(tmp_path / "m")


# ----------------------------------------------------------------------- the reference, by hand

def test_reference_direct_dense_by_hand():
    """One neuron, w = 3, pixel 2, theta 5, v0 2: v = 2+6=8 -> spike, 3; 3+6=9 -> spike, 4;
    then 4+6=10 -> spike, 5."""
    net = Network((1,), (pop("o", (1,), [dense("input", [[3]])], theta=5, v0=2),))
    r = ref.run(net, np.array([[2]], np.uint8), 3)
    assert r.spikes[0, :, 0].tolist() == [1, 1, 1] and r.membranes[0, 0] == 5
    assert r.sops.tolist() == [3] and r.population_spikes.tolist() == [[3]]


def test_reference_saturates_each_add_in_source_order():
    """m = 8: v0 = 100, events +63 (sat 127) then -64 -> 63, not 100 + 63 - 64 = 99."""
    net = Network((2,), (pop("o", (1,), [dense("input", [[63, -64]])], theta=127, v0=100),),
                  weight_bits=7, membrane_bits=8, input_bits=1)
    for run in (ref.run, fast.evaluate):
        r = run(net, np.array([[1, 1]], np.uint8), 1)
        assert r.membranes[0, 0] == 63 and r.spikes.sum() == 0


def test_reference_leak_bias_fire_order():
    """v0 = -7, leak 1: -7 - (-7 >> 1) = -7 + 4 = -3; bias 10 -> 7 >= theta 5: spike, v = 2."""
    net = Network((1,), (pop("o", (1,), [dense("input", [[0]])], theta=5, v0=-7, leak_shift=1,
                             bias=[10]),))
    r = ref.run(net, np.zeros((1, 1), np.uint8), 1)
    assert r.spikes[0, 0, 0] == 1 and r.membranes[0, 0] == 2


def test_reference_conv_padding_sops_and_pool_drops_edges():
    """3x3 input, 3x3 kernel, stride 2, pad 1 -> 2x2 output: the centre pixel (1, 1) is touched
    by a tap of each of the four outputs; the corner (0, 0) only by output (0, 0). Pool k=2 on
    a 3x3 source drops row and column 2."""
    w = np.ones((1, 1, 3, 3), int)
    conv = Network((1, 3, 3), (pop("c", (1, 2, 2), [Projection("conv", "input", w, kernel=3,
                                                               stride=2, padding=1)], theta=100),))
    centre = np.zeros((1, 1, 3, 3), np.uint8)
    centre[0, 0, 1, 1] = 1
    corner = np.zeros((1, 1, 3, 3), np.uint8)
    corner[0, 0, 0, 0] = 1
    assert ref.run(conv, centre, 1).sops.tolist() == [4]
    assert ref.run(conv, corner, 1).sops.tolist() == [1]
    pool = Network((1, 3, 3), (pop("p", (1, 1, 1), [Projection("pool", "input", kernel=2,
                                                               stride=2)], theta=100),))
    ones = np.ones((1, 1, 3, 3), np.uint8)
    r = ref.run(pool, ones * 3, 1)
    assert r.sops.tolist() == [4] and r.membranes.tolist() == [[12]]


def test_predictions_tie_to_lowest_index():
    net = Network((1,), (pop("o", (3,), [dense("input", [[1], [2], [2]])], theta=1),))
    for run in (ref.run, fast.evaluate):
        r = run(net, np.array([[1], [0]], np.uint8), 2)
        assert r.counts.tolist() == [[2, 2, 2], [0, 0, 0]]
        assert r.predictions.tolist() == [0, 0]


def test_later_populations_see_spikes_of_the_same_timestep():
    chain = Network((1,), (pop("a", (1,), [dense("input", [[1]])], theta=1),
                           pop("b", (1,), [Projection("identity", "a")], theta=1)))
    for run in (ref.run, fast.evaluate):
        assert run(chain, np.array([[1]], np.uint8), 1).spikes[0, 0, 0] == 1


def test_rate_input_uses_the_rate_encoder():
    from twinspike.sw.rate_encoder import encode

    net = Network((5,), (pop("o", (5,), [Projection("identity", "input")], theta=1),),
                  encoding="rate", input_bits=4, lfsr_width=9, seed=3)
    x = np.array([[0, 3, 8, 15, 1]], np.uint8)
    expected = encode(ref.rate_encoder_params(net), x, 6)
    for run in (ref.run, fast.evaluate):
        assert_same(run(net, x, 6).spikes, expected)


# ----------------------------------------------------------------------- Cython == reference

def test_cython_module_is_compiled():
    assert cy.COMPILED and cy.__file__.endswith(".so")


@profiles.settings_for("cython")
@given(case=eq.cases(), batch=st.integers(1, 4))
def test_cython_equals_reference(case, batch):
    net, images, T = case
    assert_same(eq.run_cython(net, images, T, batch), eq.run_reference(net, images, T))


def test_cython_equals_reference_on_small_cnn_both_encodings():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (9, 2, 6, 6)).astype(np.uint8)
    for encoding in ("direct", "rate"):
        net = small_cnn(encoding=encoding)
        expected = ref.run(net, images, 5)
        assert expected.population_spikes.sum(axis=0).all()       # every population fires
        assert_same(asdict(fast.evaluate(net, images, 5, batch=4)), asdict(expected))


def _spiking_mlp(membrane_bits: int) -> Network:
    """Rate input 64 -> 40 -> 7 -> 10: every dense projection is spike-driven (the clamp-free
    path when membranes are wide; 7 hidden neurons leave a remainder after groups of 4)."""
    rng = np.random.default_rng(3)
    return Network((64,), (
        pop("h1", (40,), [dense("input", rng.integers(-128, 128, (40, 64)))], theta=300, v0=150),
        pop("h2", (7,), [dense("h1", rng.integers(-128, 128, (7, 40)))], theta=200, v0=100),
        pop("out", (10,), [dense("h2", rng.integers(-128, 128, (10, 7)))], theta=100, v0=50)),
        encoding="rate", weight_bits=8, membrane_bits=membrane_bits)


def _spiking_cnn(membrane_bits: int, encoding: str) -> Network:
    """(1, 8, 8) -> conv 3x3 (5 ch) -> conv 3x3 stride 2 (3 ch) -> dense 10: conv projections
    of spikes (and, direct-encoded, the input conv's constant current)."""
    rng = np.random.default_rng(5)
    c1_theta = 2000 if encoding == "direct" else 200
    return Network((1, 8, 8), (
        pop("c1", (5, 8, 8), [Projection("conv", "input", rng.integers(-128, 128, (5, 1, 3, 3)),
                                         kernel=3, padding=1)], theta=c1_theta,
            v0=c1_theta // 2),
        pop("c2", (3, 4, 4), [Projection("conv", "c1", rng.integers(-128, 128, (3, 5, 3, 3)),
                                         kernel=3, stride=2, padding=1)], theta=150, v0=75),
        pop("out", (10,), [dense("c2", rng.integers(-128, 128, (10, 48)))], theta=100, v0=50)),
        encoding=encoding, weight_bits=8, membrane_bits=membrane_bits)


@pytest.mark.parametrize("make,narrow", [(lambda m: _spiking_mlp(m), 10),
                                         (lambda m: _spiking_cnn(m, "rate"), 10),
                                         (lambda m: _spiking_cnn(m, "direct"), 12)],
                         ids=["dense-rate", "conv-rate", "conv-direct"])
def test_clamp_free_paths_equal_the_saturating_reference(make, narrow):
    n_in = make(24).n_inputs
    images = np.random.default_rng(4).integers(0, 256, (6, n_in)).astype(np.uint8)
    images = images.reshape(6, *make(24).input_shape)
    results = {}
    for m in (24, narrow):             # 24: no membrane can saturate; narrow: many do
        expected = ref.run(make(m), images, 6)
        assert expected.population_spikes.all()
        assert_same(asdict(fast.evaluate(make(m), images, 6, batch=4)), asdict(expected))
        results[m] = expected
    # the narrow network really saturates (else the second case proves nothing new)
    assert not np.array_equal(results[24].membranes, results[narrow].membranes)


@pytest.mark.parametrize("run", [ref.run, fast.evaluate], ids=["reference", "cython"])
def test_bad_inputs_raise(run):
    net = small_cnn(input_bits=4)
    good = np.zeros((2, 2, 6, 6), np.uint8)
    with pytest.raises(ValueError,
                       match=r"run.images has shape \(2, 72\): expected \(B, 2, 6, 6\)"):
        run(net, good.reshape(2, 72), 3)
    with pytest.raises(ValueError, match=r"run.images holds 16, out of range: expected 0..15"):
        run(net, good + 16, 3)
    with pytest.raises(ValueError, match=r"run.T=0 is out of range"):
        run(net, good, 0)
    with pytest.raises(ValueError, match=r"run expects a Network"):
        run("net", good, 3)


def test_cython_entry_points_refuse_bad_arguments():
    net = small_cnn()
    c = cy.CompiledNetwork(net)
    with pytest.raises(ValueError, match="CompiledNetwork expects a Network"):
        cy.CompiledNetwork({"populations": []})
    with pytest.raises(ValueError, match="run_batch expects a CompiledNetwork"):
        cy.run_batch(net, np.zeros((1, 72), np.uint8), None, 2)
    with pytest.raises(ValueError, match=r"run_batch.pixels: expected uint8 \(B, 72\)"):
        cy.run_batch(c, np.zeros((1, 71), np.uint8), None, 2)
    with pytest.raises(ValueError, match=r"run_batch.T=0"):
        cy.run_batch(c, np.zeros((1, 72), np.uint8), None, 0)
    with pytest.raises(ValueError, match=r"run_batch.levels: expected None"):
        cy.run_batch(c, np.zeros((1, 72), np.uint8), np.zeros((2, 72), np.uint8), 2)
    rate = cy.CompiledNetwork(small_cnn(encoding="rate"))
    with pytest.raises(ValueError, match=r"run_batch.levels: expected uint8 \(2, 72\)"):
        cy.run_batch(rate, np.zeros((1, 72), np.uint8), np.zeros((3, 72), np.uint8), 2)
    with pytest.raises(ValueError, match=r"evaluate.batch=0"):
        fast.evaluate(net, np.zeros((1, 2, 6, 6), np.uint8), 2, batch=0)


def test_evaluate_streams_batches_and_handles_an_empty_set():
    net = small_cnn()
    images = np.random.default_rng(3).integers(0, 256, (10, 2, 6, 6)).astype(np.uint8)
    whole = fast.evaluate(net, images, 4, batch=10)
    assert_same(asdict(fast.evaluate(net, images, 4, batch=3)), asdict(whole))
    assert fast.evaluate(net, images, 4, batch=3) == whole       # Result compares arrays
    assert fast.evaluate(net, images, 3) != whole
    empty = fast.evaluate(net, images[:0], 4)
    assert empty.spikes.shape == (0, 4, 4) and empty.population_spikes.shape == (0, 4)


# ----------------------------------------------------------------------- twinspike eval

def centroid_network(x_train, y_train, theta=8000) -> Network:
    """A one-layer nearest-centroid classifier: 4-bit weights = class mean - overall mean."""
    x = x_train.reshape(len(x_train), -1).astype(float)
    means = np.stack([x[y_train == c].mean(axis=0) for c in range(10)])
    w = means - means.mean(axis=0)
    w = np.round(w / np.abs(w).max() * 7).astype(int)
    return Network(x_train.shape[1:], (pop("out", (10,), [dense("input", w)], theta=theta,
                                           v0=theta // 2),), weight_bits=4, membrane_bits=20)


def test_cli_eval_reports_accuracy_and_speed_on_digits(tmp_path, capsys):
    from twinspike.cli import main
    from twinspike.data import load_dataset

    x_train, y_train, x_test, y_test = load_dataset("digits")
    net = centroid_network(x_train, y_train)
    save(net, tmp_path / "centroid")
    assert main(["eval", "--model", str(tmp_path / "centroid.npz"), "-T", "8",
                 "--batch", "64"]) == 0
    out = capsys.readouterr().out
    result = fast.evaluate(net, x_test, 8)
    correct = int((result.predictions == y_test).sum())
    assert f"accuracy {100 * correct / len(y_test):.2f}% ({correct}/{len(y_test)})" in out
    assert correct / len(y_test) > 0.8
    assert f"{result.sops.mean():.0f} SOPs per image" in out and "GSOP/s" in out


def test_cli_eval_errors_are_one_line(tmp_path, capsys):
    from twinspike.cli import main

    assert main(["eval", "--model", str(tmp_path / "none.npz")]) == 2
    assert "none.json: no such network file" in capsys.readouterr().err
    save(small_cnn(), tmp_path / "cnn")
    assert main(["eval", "--model", str(tmp_path / "cnn.npz"), "--data", "digits"]) == 2
    assert "test images of shape (1, 8, 8), but" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "cnn.npz"), "--data", "fancy"]) == 2
    (tmp_path / "cnn.json").write_text("{}")
    assert main(["eval", "--model", str(tmp_path / "cnn.npz")]) == 2
    assert "cnn.json: format: missing" in capsys.readouterr().err
