"""The PYNQ driver of the GLM top (twinspike/board.GlmAccelerator) against the stand-in overlay,
whose MMIO and DMA calls drive the MyHDL GLM top (hw/glm_top.py): a network loaded from the
folder `twinspike compile GLM.npz` writes gives the Cython GLM evaluator's decisions, decision
steps and fallback flags on rate-encoded digits samples, and the CYCLES/SOPS formulas; a
sample cut short is the core's ERROR 3 and the core recovers; a DMA that never completes
times out naming it; the wrong top, other HW_PARAMS or another build's GlmNeuronParams are
named; bad spike trains are refused before the device is touched. No board here: what only a
PYNQ-Z2 can show (pynq itself, the real DMA, timing) is not tested."""
from __future__ import annotations

import dataclasses
import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from test_glm_top import P, T, samples, template_network
from twinspike import board, vivado
from twinspike.board import (Accelerator, AcceleratorError, BoardError, GlmAccelerator,
                             SimulatedOverlay)
from twinspike.cli import main
from twinspike.data import load_digits_split
from twinspike.ext import glm_neuron as cy
from twinspike.glm import experiment
from twinspike.glm.deploy import read_network
from twinspike.glm.export import GlmNetwork, _params_doc, save
from twinspike.hw import glm_top as gt
from twinspike.sw import register_map as rm
from twinspike.sw.layer_sequencer import AcceleratorParams

pytestmark = pytest.mark.filterwarnings("ignore:Signal is not driven",
                                        "ignore:Signal is driven but not read")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The template network saved as a GLM network file and compiled by the CLI:
    ``(network, compile folder)``."""
    root = tmp_path_factory.mktemp("glm-board")
    net = template_network()
    npz, _ = save(net, root / "glm")
    assert main(["compile", str(npz), "--out", str(root / "images")]) == 0
    return net, root / "images"


@pytest.fixture
def overlay():
    with SimulatedOverlay(P, answer_s=30) as ov:
        yield ov
    assert ov.stopped.wait(10), "the simulation thread did not stop"


def driver(ov, **kw) -> GlmAccelerator:
    return GlmAccelerator(ov.mmio, kw.pop("dma", ov.dma), ov.allocate, **kw)


def assert_equals_cython(got, net, spikes):
    d, st, fb = cy.evaluate(net.params, net.weights, net.biases, spikes)
    np.testing.assert_array_equal(got.decisions, d)
    np.testing.assert_array_equal(got.decision_steps, st)
    np.testing.assert_array_equal(got.fallbacks, fb)
    assert got.cycles == int(gt.cycles_per_sample(net.params, st).sum())
    assert got.sops == int(gt.sops_per_sample(net.params, st).sum())
    return d, fb


def test_compile_folder_reads_back_as_the_network(compiled):
    net, folder = compiled
    back = read_network(folder)
    assert back.params == net.params and back.encoder == net.encoder and back.steps == T
    np.testing.assert_array_equal(back.weights, net.weights)
    np.testing.assert_array_equal(back.biases, net.biases)
    assert back.metadata["network"]["files"] == ["glm.npz", "glm.json"]


def test_glm_samples_on_the_stand_in_equal_cython(compiled, overlay):
    """Loaded from the compile folder through the window; 4 samples (with and without
    fallback), then a second batch encoded by the driver with the network's encoder."""
    net, folder = compiled
    acc = driver(overlay)
    acc.load(folder)
    spikes = samples(net, 4)
    got = acc.run(spikes, timeout=120)
    d, fb = assert_equals_cython(got, net, spikes)
    assert len(set(d.tolist())) > 1 and set(fb.tolist()) == {0, 1}, "a vacuous comparison"
    x = experiment.to_bytes(load_digits_split().x_test[10:12])
    encoded = acc.encode(x)
    cfg = experiment.GlmConfig(n_kernels=P.n_kernels, tau=P.tau, max_steps=T)
    np.testing.assert_array_equal(encoded, experiment.encode(64, cfg, x))
    assert_equals_cython(acc.run(encoded, timeout=120), net, encoded)
    assert overlay.mmio.read(rm.offset("IRQ")) == 0, "the driver clears IRQ after a run"


class Short:
    """A send channel that drops each transfer's last byte (TLAST comes one byte early)."""

    def __init__(self, channel):
        self.channel = channel

    @property
    def idle(self):
        return self.channel.idle

    def transfer(self, buffer):
        self.channel.transfer(np.asarray(buffer)[:-1])

    def wait(self):
        self.channel.wait()

    def stop(self):
        self.channel.stop()

    def start(self):
        self.channel.start()


def test_a_sample_cut_short_is_the_cores_error_and_the_core_recovers(compiled, overlay):
    net, folder = compiled
    dma = SimpleNamespace(sendchannel=Short(overlay.dma.sendchannel),
                          recvchannel=overlay.dma.recvchannel)
    acc = driver(overlay, dma=dma)
    acc.load(folder)
    spikes = samples(net, 2)
    with pytest.raises(AcceleratorError, match=r"ERROR=3 INPUT_SHORT .*STATUS=0x6 "
                                               r"\(done, error\)") as info:
        acc.run(spikes, timeout=60)
    assert info.value.code == rm.ERROR["INPUT_SHORT"]
    acc.dma = overlay.dma              # after the driver's reset the next run is clean
    assert_equals_cython(acc.run(spikes, timeout=120), net, spikes)


def test_a_dma_that_never_completes_times_out_naming_it(compiled, overlay):
    class Stuck:                       # takes the buffer and never ends
        idle = False

        def transfer(self, buffer):
            pass

        def wait(self):
            raise AssertionError("never idle: wait() must not be called")

    net, folder = compiled
    acc = driver(overlay, dma=SimpleNamespace(sendchannel=Stuck(),
                                              recvchannel=overlay.dma.recvchannel))
    acc.load(folder)
    with pytest.raises(TimeoutError, match=r"the DMA send of sample 0 of 2 \(64 spike bytes\) "
                                           r"did not complete within 0.5 s; STATUS=0x1 \(busy\), "
                                           r"ERROR=0 NONE; the core was reset"):
        acc.run(samples(net, 2), timeout=0.5)
    assert overlay.mmio.read(rm.offset("STATUS")) & 1 == 0, "the driver reset the core"


def test_the_wrong_top_and_other_hw_params_are_named(compiled, overlay):
    net, _ = compiled
    other = GlmNetwork(dataclasses.replace(P, n_out=5, membrane_bits=18),
                       net.weights[:5], net.biases[:5], net.encoder, T)
    with pytest.raises(BoardError, match=r"HW_PARAMS mismatch \(lanes \(n_out\): bitstream 10, "
                                         r"images 5; membrane_bits: bitstream 16, images 18\): "
                                         r"build the bitstream from this network's compile"):
        driver(overlay).load(other)
    with pytest.raises(BoardError, match=r"is a GLM top: drive it with "
                                         r"twinspike.board.GlmAccelerator, not Accelerator"):
        Accelerator(overlay.mmio, overlay.dma, overlay.allocate).check(AcceleratorParams())


class Untouchable:
    """An MMIO that answers the hardware check (``hw_params``) and fails the test on any
    other access once armed."""

    armed = False

    def __init__(self, hw_params=gt.hw_params_word(P)):
        self.hw_params = hw_params

    def read(self, offset):
        assert not self.armed, f"read {offset:#x}: the device was touched"
        return {rm.offset("VERSION"): rm.VERSION_WORD,
                rm.offset("HW_PARAMS"): self.hw_params}[offset]

    def write(self, offset, value):
        raise AssertionError(f"write {offset:#x}: the device was touched")


def test_an_if_top_and_another_builds_params_are_named(compiled, tmp_path):
    net, _ = compiled
    if_top = Untouchable(rm.field_value("HW_PARAMS", lanes=8, weight_bits=8, membrane_bits=24,
                                        input_bits=8))
    with pytest.raises(BoardError, match=r"\(input_bits 8\) is an IF accelerator top: drive it "
                                         r"with twinspike.board.Accelerator, not GlmAccelerator"):
        GlmAccelerator(if_top, None, None).attach(net)
    build = {"design": "glm", "params": _params_doc(dataclasses.replace(
        P, tau=3, kernel_table=None, sigmoid_lut=None))}
    with pytest.raises(BoardError, match=r"generated for other GlmNeuronParams \(kernel_table, "
                                         r"tau differ"):
        GlmAccelerator(Untouchable(), None, None, build=build).attach(net)
    (tmp_path / "address_map.json").write_text(json.dumps({"design": "accelerator"}))
    with pytest.raises(BoardError, match=r"design 'accelerator', expected 'glm'"):
        board.read_build(tmp_path / "address_map.json")


@pytest.mark.parametrize("spikes, timeout, match", [
    (np.zeros((2, T, 63), np.uint8), 1, rf"spikes: shape \(2, {T}, 63\), expected \(B, T, 64\) "
                                        rf"with B >= 1 and 1 <= T <= {T} \(max_steps\)"),
    (np.zeros((2, T + 1, 64), np.uint8), 1, "spikes: shape"),
    (np.zeros((0, T, 64), np.uint8), 1, "spikes: shape"),
    (np.zeros((T, 64), np.uint8), 1, "spikes: shape"),
    (np.full((1, T, 64), 2), 1, r"spikes: values 2..2 outside 0..1"),
    (np.zeros((1, T, 64)), 1, "spikes: dtype float64, expected integers 0/1"),
    (np.zeros((1, T, 64), np.uint8), 0, "timeout=0: expected seconds > 0"),
])
def test_bad_spikes_are_refused_before_the_device_is_touched(compiled, spikes, timeout, match):
    mmio = Untouchable()
    acc = GlmAccelerator(mmio, None, None)
    acc.attach(compiled[0])
    mmio.armed = True
    with pytest.raises(ValueError, match=match):
        acc.run(spikes, timeout=timeout)


def test_run_or_encode_without_a_network_and_a_bad_stand_in():
    acc = GlmAccelerator(Untouchable(), None, None)
    with pytest.raises(BoardError, match=r"no network: call load\(network\)"):
        acc.run(np.zeros((1, T, 64), np.uint8))
    with pytest.raises(BoardError, match="no network"):
        acc.encode(np.zeros((1, 64), np.uint8))
    with pytest.raises(TypeError, match="expected AcceleratorParams .* or GlmNeuronParams"):
        SimulatedOverlay(object())


def test_from_overlay_reads_the_build_record_beside_the_bitstream(monkeypatch, compiled,
                                                                  tmp_path):
    """A fake pynq module: the driver finds the cells of the Vivado script and the build's
    address_map.json beside the bitstream (the script copies it to output/)."""
    net, _ = compiled
    seen = {}

    class Overlay:
        def __init__(self, bitfile):
            seen["bitfile"] = bitfile
            self.ip_dict = {vivado.CELL: {"phys_addr": 0x43C00000, "addr_range": 0x1000},
                            vivado.DMA: {"phys_addr": 0x40400000, "addr_range": 0x10000}}
            setattr(self, vivado.DMA, "the dma")

    def mmio(base, span):
        seen["mmio"] = (base, span)
        return Untouchable()

    monkeypatch.setitem(sys.modules, "pynq", SimpleNamespace(Overlay=Overlay, MMIO=mmio,
                                                             allocate=np.zeros))
    bit = tmp_path / "twinspike_glm.bit"
    acc = GlmAccelerator.from_overlay(bit)
    assert acc.build is None and acc.dma == "the dma"
    assert seen == {"bitfile": str(bit), "mmio": (0x43C00000, 0x1000)}
    acc.attach(net)                    # no build record: HW_PARAMS only
    (tmp_path / vivado.ADDRESS_MAP_FILE).write_text(json.dumps(
        {"design": "glm", "params": _params_doc(dataclasses.replace(P, seed=9))}))
    acc = GlmAccelerator.from_overlay(bit)
    assert acc.build["design"] == "glm"
    with pytest.raises(BoardError, match=r"\(seed differ from the network's"):
        acc.attach(net)
    monkeypatch.setitem(sys.modules, "pynq", None)
    with pytest.raises(ImportError, match="from_overlay needs the 'pynq' package"):
        GlmAccelerator.from_overlay(bit)
