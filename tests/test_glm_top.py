"""The GLM top (hw/glm_top.py), driven only through its AXI ports: weights and biases loaded
through the AXI4-Lite window (from the files `twinspike compile` writes for a GLM network
file), rate-encoded digits test samples streamed with random TVALID gaps, result words read
with random TREADY stalls; decisions, decision steps and fallback flags equal the Cython GLM
evaluator. Error paths, the converted VHDL bench in GHDL, Yosys counts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from twinspike.cli import main
from twinspike.data import load_digits_split
from twinspike.equivalence import profiles
from twinspike.ext import glm_neuron as cy
from twinspike.glm import experiment
from twinspike.glm.deploy import read_images
from twinspike.glm.export import GlmNetwork, is_glm_network, load, save
from twinspike.hw import glm_top as gt
from twinspike.hw import toolchain
from twinspike.sw import register_map as rm
from twinspike.sw.glm_neuron import GlmNeuronParams

pytestmark = pytest.mark.filterwarnings("ignore:Signal is not driven",
                                        "ignore:Signal is driven but not read")
DEEP = profiles.PROFILE == "deep"
#: A small GLM unit for the digits (64 inputs, 10 outputs); T = 8.
P = GlmNeuronParams(n_in=64, n_out=10, n_kernels=2, tau=4, max_steps=8)
T = 8
DONE, ERR = 0b010, 0b110


def template_network() -> GlmNetwork:
    """No training (fast): each output's binary weights are the signs of its class mean minus
    the mean over classes (10 % flipped at random), bias -3000: decisions vary, decision steps
    spread over 2..8 and some samples fall back to the membrane argmax."""
    split = load_digits_split()
    x = split.x_train.reshape(len(split.x_train), -1)
    y = np.asarray(split.y_train)
    means = np.stack([x[y == c].mean(0) for c in range(10)])
    w = np.repeat(np.where(means >= means.mean(0), 1, -1)[:, :, None], P.n_kernels, axis=2)
    w[np.random.default_rng(0).random(w.shape) < 0.1] *= -1
    cfg = experiment.GlmConfig(n_kernels=P.n_kernels, tau=P.tau, max_steps=T)
    return GlmNetwork(P, w, np.full(10, -3000), experiment.encoder_params(64, cfg), T,
                      {"note": "template test network"})


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The network saved as a GLM network file, compiled by the CLI, parsed back."""
    root = tmp_path_factory.mktemp("glm")
    net = template_network()
    npz, _ = save(net, root / "glm")
    assert main(["compile", str(npz), "--out", str(root / "images")]) == 0
    return net, root, read_images(root / "images")


def samples(net: GlmNetwork, n: int) -> np.ndarray:
    """Digits test samples as the rate encoder's spike trains ``(n, T, 64)``; the first
    fallback sample comes first, so even two samples show both decision kinds."""
    x = experiment.to_bytes(load_digits_split().x_test)
    s = experiment.encode(64, experiment.GlmConfig(n_kernels=P.n_kernels, tau=P.tau,
                                                   max_steps=T), x)
    _, _, fb = cy.evaluate(net.params, net.weights, net.biases, s)
    first = int(np.flatnonzero(fb)[0])
    order = [first] + [i for i in range(len(s)) if i != first]
    return np.ascontiguousarray(s[order[:n]])


def expected(net, spikes):
    d, st, fb = cy.evaluate(net.params, net.weights, net.biases, spikes)
    return [dict(decision=int(a), step=int(b), fallback=int(c)) for a, b, c in zip(d, st, fb)], st


def test_glm_network_file_and_compile_round_trip(compiled, tmp_path, capsys):
    net, root, (p, w, b) = compiled
    assert is_glm_network(root / "glm.npz") and not is_glm_network(tmp_path / "none")
    back = load(root / "glm.json")
    assert back.params == net.params and back.encoder == net.encoder and back.steps == T
    np.testing.assert_array_equal(back.weights, net.weights)
    np.testing.assert_array_equal(back.biases, net.biases)
    assert p == net.params
    np.testing.assert_array_equal(w, net.weights)
    np.testing.assert_array_equal(b, net.biases)
    manifest = json.loads((root / "images" / "manifest.json").read_text())
    assert manifest["registers"] == {"T": T, "HW_PARAMS": gt.hw_params_word(P)}
    assert {m: v["mem_select"] for m, v in manifest["memories"].items()} == {
        "weight": rm.memory_code("weight"), "bias": rm.memory_code("bias")}
    assert manifest["network"]["files"] == ["glm.npz", "glm.json"]
    coe = (root / "images" / "bias.coe").read_text()
    assert coe.startswith("memory_initialization_radix=16;")
    # --param is refused with one line (exit 2: the top is generated from the network's own
    # params; --vivado is tests/test_vivado.py's); a broken file names itself.
    assert main(["compile", str(root / "glm.npz"), "--out", str(tmp_path / "v"), "--param",
                 "lanes=4"]) == 2
    assert "--param does not apply to a GLM network" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text((root / "glm.json").read_text().replace('"steps": 8',
                                                                               '"steps": 99'))
    (tmp_path / "bad.npz").write_bytes((root / "glm.npz").read_bytes())
    assert main(["compile", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "b")]) == 2
    assert "steps=99" in capsys.readouterr().err


def test_glm_top_through_the_axi_ports_equals_cython(compiled):
    """Loaded from the compiled files through the window; random gaps, stalls, bus delays."""
    net, _, (p, w, b) = compiled
    spikes = samples(net, 20 if DEEP else 4)
    want, steps = expected(net, spikes)

    def scenario(host):
        yield from gt.run_batch(host, p, w, b, spikes)

    host = gt.simulate_host(p, scenario, seed=3, gap=0.3, stall=0.4, max_delay=3)
    assert gt.parse_results(host.results) == want
    assert len({r["decision"] for r in want}) > 1 and {r["fallback"] for r in want} == {0, 1}
    r = host.regs
    assert r["STATUS"] == DONE and r["ERROR"] == 0 and r["IRQ"] == 1
    assert r["CYCLES"] == gt.cycles_per_sample(p, steps).sum()
    assert r["SOPS"] == gt.sops_per_sample(p, steps).sum()
    assert r["SATURATION"] == 0 and r["VERSION"] == rm.VERSION_WORD
    assert r["HW_PARAMS"] == gt.hw_params_word(p)
    assert rm.field_of("HW_PARAMS", r["HW_PARAMS"], "input_bits") == 0


def test_errors_are_reported_and_a_run_follows():
    """T out of range, TLAST early, the last byte without TLAST; IMAGES = 0; then a good run
    (10 inputs: two bytes per frame, the high bits of the second ignored)."""
    p = GlmNeuronParams(n_in=10, n_out=3, n_kernels=1, tau=2, max_steps=4)
    rng = np.random.default_rng(1)
    w, b = rng.choice([-1, 1], (3, 10, 1)), np.array([-300, -200, -250])
    spikes = rng.integers(0, 2, (2, 3, 10)).astype(np.uint8)
    got = {}

    def scenario(host):
        for name, T_, beats in (("t0", 0, []), ("t5", 5, []),
                                ("short", 3, [(1, 0), (2, 1)]),
                                ("long", 1, [(1, 0), (3, 0)])):
            host.beats, host.sent = list(beats), 0
            yield from gt.run_batch(host, p, w, b, np.zeros((0, 1, 10)), T=T_, n_samples=1)
            got[name] = (host.regs["STATUS"], host.regs["ERROR"])
        yield from host.write(rm.offset("CONTROL"), rm.field_value("CONTROL", soft_reset=1))
        host.beats, host.sent = [], 0
        yield from gt.run_batch(host, p, w, b, np.zeros((0, 3, 10)), n_samples=0)
        got["zero"] = (host.regs["STATUS"], host.regs["ERROR"])
        host.results = []
        yield from gt.run_batch(host, p, w, b, spikes)
        got["good"] = (host.regs["STATUS"], host.regs["ERROR"])

    host = gt.simulate_host(p, scenario, seed=1)
    e = rm.ERROR
    assert got["t0"] == (ERR, e["T_RANGE"]) and got["t5"] == (ERR, e["T_RANGE"])
    assert got["short"] == (ERR, e["INPUT_SHORT"]) and got["long"] == (ERR, e["INPUT_LONG"])
    assert got["zero"] == (DONE, 0) and got["good"] == (DONE, 0)
    d, st, fb = cy.evaluate(p, w, b, spikes)
    assert gt.parse_results(host.results) == [dict(decision=int(x), step=int(y), fallback=int(z))
                                              for x, y, z in zip(d, st, fb)]


def test_spike_beats_pack_inputs_lsb_first():
    p = GlmNeuronParams(n_in=10, n_out=2, n_kernels=1, tau=2, max_steps=4)
    s = np.zeros((1, 2, 10), np.uint8)
    s[0, 0, 0] = s[0, 0, 9] = s[0, 1, 3] = 1
    assert gt.spike_beats(p, s) == [(1, 0), (2, 0), (8, 0), (0, 1)]
    assert gt.result_word(7, 12, 1) == 7 | 12 << 8 | 1 << 31


def test_converted_glm_top_runs_in_ghdl_like_myhdl_and_cython(compiled, ghdl, tmp_path):
    """The converted VHDL top from a VHDL bench that loads it over AXI4-Lite, streams the
    encoded digits samples and reads the result stream (2 samples; 20 in the deep profile)."""
    net, _, (p, w, b) = compiled
    spikes = samples(net, 20 if DEEP else 2)
    want, steps = expected(net, spikes)
    result = toolchain.verify_vhdl(gt.testbench(p, w, b, spikes), workdir=tmp_path)
    assert result.ok, result.diff[:3000]
    got = gt.parse_lines(result.ghdl_lines)
    assert got["bus_errors"] == []
    assert got["records"] == want
    assert got["regs"]["STATUS"] == DONE and got["regs"]["ERROR"] == 0
    assert got["regs"]["CYCLES"] == gt.cycles_per_sample(p, steps).sum()
    assert got["regs"]["SOPS"] == gt.sops_per_sample(p, steps).sum()
    assert got["regs"]["IRQ"] == 1 and got["regs"]["IRQ_AFTER"] == 0
    assert got["regs"]["HW_PARAMS"] == gt.hw_params_word(p)


def test_glm_top_without_initial_values_runs_from_reset_in_ghdl(compiled, ghdl, tmp_path):
    """The top converted with ``initial_values`` off (every signal 'U' until reset, as on a
    board) prints in GHDL exactly what MyHDL prints."""
    net, _, (p, w, b) = compiled
    spikes = samples(net, 2)
    mine, theirs = gt.run_split_ghdl(p, w, b, spikes, tmp_path)
    dut = (tmp_path / "dut" / "glm_top.vhd").read_text()
    declared = [ln for ln in dut.splitlines() if ln.startswith("signal ")]
    assert declared and not [ln for ln in declared if ":=" in ln], "initial values in the top"
    assert "entity work.glm_top" in (tmp_path / "tb" / "glm_top_tb.vhd").read_text()
    assert [m.lower() for m in mine] == [g.lower() for g in theirs]
    assert gt.parse_lines(theirs)["records"] == expected(net, spikes)[0]


def test_glm_top_fits_the_xc7z020(yosys, tmp_path):
    """The digits network of `twinspike glm` (64 -> 10, K = 4, tau = 8, T <= 16)."""
    p = GlmNeuronParams(max_steps=16)
    res = toolchain.synth_xc7(gt.top(p), "glm_top", tmp_path)
    print(f"glm_top (64 -> 10, K=4, tau=8, max_steps=16): {res.as_row()}")
    assert res.lut <= 53_200 and res.ff <= 106_400 and res.dsp <= 220 and res.bram36 <= 140
    # Measured: LUT=2636 FF=1148 DSP=0 BRAM36=0.5 (the unit alone: LUT=2121 FF=547, the
    # weight RAM one RAMB18); the spike buffer is LUT-RAM, the AXI plumbing logic only.
    assert res.dsp == 0 and res.bram36 == 0.5
