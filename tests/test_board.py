"""The PYNQ driver (twinspike/board.py) against the stand-in overlay, whose MMIO and DMA calls
drive the MyHDL top: the digits MLP and CNN give the Cython evaluator's and the reference's
classes and counts, and the reference's cycle and SOP totals; errors are clear and never
hang. A network with most weights in DDR runs through the driver's DDR buffer (allocate,
flush, WEIGHT_ADDR), which the stand-in's simulated DDR serves to the top's weight master.
No board here: what only a PYNQ-Z2 can show (pynq itself, the real DMA and HP port, cache
behaviour, timing) is not tested."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from networks import conv_net, dense_net
from twinspike import board
from twinspike.board import Accelerator, AcceleratorError, BoardError, SimulatedOverlay
from twinspike.compile import write_images
from twinspike.data import load_digits_split
from twinspike.ext.evaluate import evaluate
from twinspike.hw.layer_sequencer import external_words
from twinspike.sw import layer_sequencer as seq
from twinspike.sw import register_map as rm

from test_layer_sequencer import DDR_SMALL, _residual_net

pytestmark = pytest.mark.filterwarnings("ignore:Signal is not driven",
                                        "ignore:Signal is driven but not read")
DIGITS = seq.AcceleratorParams(lanes=8, weight_depth=1024, state_depth=512, bias_depth=256,
                               geometry_depth=128, spike_depth=128, input_depth=128,
                               table_depth=512)
T = 4


@pytest.fixture
def overlay():
    with SimulatedOverlay(DIGITS, answer_s=30) as ov:
        yield ov
    assert ov.stopped.wait(10), "the simulation thread did not stop"


def driver(ov) -> Accelerator:
    return Accelerator(ov.mmio, ov.dma, ov.allocate)


@pytest.fixture(scope="module")
def mlp():
    net = dense_net("direct")
    return net, seq.compile_network(net, DIGITS)


@pytest.mark.parametrize("name", ["mlp", "cnn", "mlp-rate"])
def test_digits_on_the_stand_in_equal_cython_and_reference(name, overlay, tmp_path):
    """The driver streams pixels for a rate network too: the core encodes them."""
    net = {"mlp": lambda: dense_net("direct"), "cnn": conv_net,
           "mlp-rate": lambda: dense_net("rate")}[name]()
    images = load_digits_split().x_test[:3]
    compiled = seq.compile_network(net, DIGITS)
    acc = driver(overlay)
    if name == "cnn":                  # from a `twinspike compile` folder
        write_images(compiled, tmp_path)
        acc.load(tmp_path)
    else:
        acc.load(compiled)
    got = acc.run(images, T, timeout=120)
    fast, want = evaluate(net, images, T), seq.run(net, compiled, images, T)
    np.testing.assert_array_equal(got.classes, fast.predictions)
    np.testing.assert_array_equal(got.counts, fast.counts)
    np.testing.assert_array_equal(got.classes, want.predictions)
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_array_equal(got.first_spike_steps, want.first_spike_step)
    assert got.cycles == int(want.cycles.sum()) and got.sops == int(want.sops.sum())
    assert got.sops == int(fast.sops.sum())
    assert (fast.population_spikes > 0).all(), "a silent population would make this vacuous"


def test_run_before_load_names_the_error_and_the_core_recovers(overlay, mlp):
    net, compiled = mlp
    acc = driver(overlay)
    acc.attach(compiled)               # claims the memories hold it; they do not
    x = load_digits_split().x_test[:1]
    with pytest.raises(AcceleratorError, match="ERROR=1 BAD_MAGIC") as info:
        acc.run(x, T, timeout=30)
    assert info.value.name == "BAD_MAGIC" and "load()" in str(info.value)
    assert "STATUS=0x6 (done, error)" in str(info.value)
    acc.load(compiled)                 # after the driver's reset the next run is clean
    got = acc.run(x, T, timeout=60)
    np.testing.assert_array_equal(got.classes, evaluate(net, x, T).predictions)


def test_hw_params_mismatch_is_named(overlay, mlp):
    other = seq.compile_network(mlp[0], seq.AcceleratorParams(
        lanes=4, membrane_bits=20, weight_depth=2048, state_depth=512, bias_depth=256,
        geometry_depth=128, spike_depth=128, input_depth=128, table_depth=256))
    with pytest.raises(BoardError, match=r"HW_PARAMS mismatch \(lanes: bitstream 8, images 4; "
                                         r"membrane_bits: bitstream 24, images 20\)"):
        driver(overlay).load(other)


def test_a_dma_that_never_completes_times_out_naming_it(overlay, mlp):
    class Stuck:                       # a send channel that takes the buffer and never ends
        idle = False

        def transfer(self, buffer):
            pass

        def wait(self):
            raise AssertionError("never idle: wait() must not be called")

    dma = type("Dma", (), {"sendchannel": Stuck(), "recvchannel": overlay.dma.recvchannel})()
    acc = Accelerator(overlay.mmio, dma, overlay.allocate)
    acc.load(mlp[1])
    with pytest.raises(TimeoutError, match=r"the DMA send of image 0 of 2 \(64 pixels\) did not "
                                           r"complete within 0.5 s; STATUS=0x1 \(busy\), "
                                           r"ERROR=0 NONE"):
        acc.run(load_digits_split().x_test[:2], T, timeout=0.5)
    assert overlay.mmio.read(rm.offset("STATUS")) & 1 == 0, "the driver reset the core"


class Untouchable:
    """An MMIO that fails the test on any access after the hardware check."""

    armed = False

    def read(self, offset):
        assert not self.armed, f"read {offset:#x}: the device was touched"
        return {rm.offset("VERSION"): rm.VERSION_WORD,
                rm.offset("HW_PARAMS"): rm.field_value("HW_PARAMS", lanes=8, weight_bits=8,
                                                       membrane_bits=24, input_bits=8)}[offset]

    def write(self, offset, value):
        raise AssertionError(f"write {offset:#x}: the device was touched")


@pytest.mark.parametrize("pixels, T_, match", [
    (np.zeros((2, 1, 8, 7), np.uint8), T, r"pixels: shape \(2, 1, 8, 7\), expected \(B, 1, 8, 8\)"),
    (np.zeros((0, 64), np.uint8), T, "pixels: shape"),
    (np.zeros(64, np.uint8), T, "pixels: shape"),
    (np.full((1, 64), 256), T, r"pixels: values 256..256 outside 0..255"),
    (np.full((1, 64), -1), T, "pixels: values"),
    (np.zeros((1, 64)), T, "pixels: dtype float64"),
    (np.zeros((1, 8, 8), np.uint8), 0, "T=0: expected an integer 1..65535"),
    (np.zeros((1, 8, 8), np.uint8), 65536, "T=65536"),
    (np.zeros((1, 8, 8), np.uint8), 2.0, "T=2.0"),
])
def test_bad_inputs_are_refused_before_the_device_is_touched(mlp, pixels, T_, match):
    mmio = Untouchable()
    acc = Accelerator(mmio, None, None)
    acc.attach(mlp[1])
    mmio.armed = True
    with pytest.raises(ValueError, match=match):
        acc.run(pixels, T_)


def test_version_mismatch_and_run_without_a_network():
    class Old(Untouchable):
        def read(self, offset):
            return 0x54530000 if offset == rm.offset("VERSION") else super().read(offset)

    with pytest.raises(BoardError, match="VERSION reads 0x54530000, this driver expects "
                                         "0x54530002"):
        Accelerator(Old(), None, None).check(DIGITS)
    with pytest.raises(BoardError, match=r"no network: call load\(images\)"):
        Accelerator(Untouchable(), None, None).run(np.zeros((1, 64), np.uint8), T)


def test_from_overlay_without_pynq_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", None)        # import pynq -> ImportError
    with pytest.raises(ImportError) as info:
        Accelerator.from_overlay("accelerator.bit")
    assert str(info.value) == board.PYNQ_MISSING and "\n" not in str(info.value)
    assert "pynq" in str(info.value) and "SimulatedOverlay" in str(info.value)


def test_from_overlay_wires_pynq_handles(monkeypatch, overlay):
    """A fake pynq module whose MMIO and DMA are the stand-in's: the driver finds the cells of
    the Vivado script (twinspike/vivado.py) and checks the hardware through them."""
    from types import SimpleNamespace

    from twinspike import vivado

    seen = {}

    class Overlay:
        def __init__(self, bitfile):
            seen["bitfile"] = bitfile
            self.ip_dict = {vivado.CELL: {"phys_addr": 0x43C00000, "addr_range": 0x1000},
                            vivado.DMA: {"phys_addr": 0x40400000, "addr_range": 0x10000}}
            setattr(self, vivado.DMA, overlay.dma)

    def mmio(base, span):
        seen["mmio"] = (base, span)
        return overlay.mmio

    monkeypatch.setitem(sys.modules, "pynq", SimpleNamespace(Overlay=Overlay, MMIO=mmio,
                                                             allocate=overlay.allocate))
    acc = Accelerator.from_overlay("output/twinspike.bit")
    acc.check(DIGITS)
    assert seen == {"bitfile": "output/twinspike.bit", "mmio": (0x43C00000, 0x1000)}
    assert acc.dma is overlay.dma
    with pytest.raises(BoardError, match="no IP named 'accel_0'"):
        Accelerator.from_overlay("output/twinspike.bit", ip="accel_0")


def test_the_stand_in_stops_and_refuses_a_second_one():
    with SimulatedOverlay(DIGITS) as ov:
        assert ov.mmio.read(rm.offset("VERSION")) == rm.VERSION_WORD
        with pytest.raises(RuntimeError, match="another SimulatedOverlay is running"):
            SimulatedOverlay(DIGITS)
        with pytest.raises(RuntimeError, match="SLVERR on write 0x8 \\(STATUS\\)"):
            ov.mmio.write(rm.offset("STATUS"), 1)          # ro: the top answers SLVERR
            ov.mmio.read(rm.offset("STATUS"))
    assert ov.stopped.wait(10)
    assert not any(t.name == "twinspike-simulated-overlay" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        ov.mmio.read(rm.offset("VERSION"))


# ----------------------------------------------------------------------------- DDR weights

#: The residual network with 16 weight words on chip and the rest in DDR behind a cache of two
#: 4-word lines (tests/test_layer_sequencer.py DDR_SMALL).
DDR = seq.AcceleratorParams(lanes=3, **DDR_SMALL)
DDR_T = 3


@pytest.fixture
def ddr_overlay():
    with SimulatedOverlay(DDR, answer_s=60) as ov:
        yield ov
    assert ov.stopped.wait(10), "the simulation thread did not stop"


@pytest.fixture(scope="module")
def residual():
    net = _residual_net()
    return net, seq.compile_network(net, DDR)


def test_weights_in_ddr_through_the_driver_equal_cython(ddr_overlay, residual, tmp_path):
    net, compiled = residual
    words = external_words(compiled)
    assert len(words) > 5 * len(compiled.onchip_weights), "most weights must be in DDR"
    write_images(compiled, tmp_path)              # from a compile folder: weight_ddr.bin
    acc = driver(ddr_overlay)
    acc.load(tmp_path)
    addr = acc.weight_addr
    assert addr and addr % 4096 == 0 and addr % (8 * DDR.line_words) == 0
    assert len(acc.ddr_buffer) == -(-len(words) // DDR.line_words) * DDR.line_words
    # The top's DDR holds what the driver copied and flushed (padding zeros to a line).
    assert ddr_overlay.ddr_read(addr, len(acc.ddr_buffer)) == words + [0] * (
        len(acc.ddr_buffer) - len(words))
    assert ddr_overlay.mmio.read(rm.offset("WEIGHT_ADDR")) == addr
    x = np.random.default_rng(4).integers(0, 256, size=(2, 1, 6, 6))
    got = acc.run(x, DDR_T, timeout=300)
    fast, want = evaluate(net, x, DDR_T), seq.run(net, compiled, x, DDR_T)
    np.testing.assert_array_equal(got.classes, fast.predictions)
    np.testing.assert_array_equal(got.counts, fast.counts)
    np.testing.assert_array_equal(got.first_spike_steps, want.first_spike_step)
    assert got.sops == int(fast.sops.sum()) == int(want.sops.sum())
    assert got.weight_fills == int(want.weight_fills.sum()) > 50
    assert got.stalls > 0 and got.cycles - got.stalls == int(want.cycles.sum())
    assert (fast.population_spikes > 0).all(), "a silent population would make this vacuous"
    # Loading again puts the words in a fresh buffer and frees the old one; close frees it.
    acc.load(compiled)
    assert acc.weight_addr != addr and ddr_overlay.ddr_read(addr, 2) == [None, None]
    assert ddr_overlay.ddr_read(acc.weight_addr, len(words)) == words
    again = acc.run(x[:1], DDR_T, timeout=300)
    np.testing.assert_array_equal(again.counts, fast.counts[:1])
    last = acc.weight_addr
    acc.close()
    assert acc.ddr_buffer is None and acc.weight_addr == 0
    assert ddr_overlay.ddr_read(last, 2) == [None, None]
    with pytest.raises(BoardError, match=r"no network: call load\(images\)"):
        acc.run(x[:1], DDR_T)


def test_a_ddr_read_error_is_named(ddr_overlay, residual):
    acc = driver(ddr_overlay)
    acc.load(residual[1])
    ddr_overlay.set_ddr_response(0b10)                     # SLVERR on every beat
    x = np.random.default_rng(4).integers(0, 256, size=(1, 36))
    with pytest.raises(AcceleratorError, match=r"ERROR=6 DDR_READ") as info:
        acc.run(x, DDR_T, timeout=120)
    assert isinstance(info.value, BoardError) and info.value.name == "DDR_READ"
    msg = str(info.value)
    assert f"WEIGHT_ADDR={acc.weight_addr:#010x}" in msg and "soft reset recovers" in msg
    assert "\n" not in msg


class _Buffer(np.ndarray):
    """An allocate stand-in's buffer at a chosen physical address (nothing simulated)."""
    physical_address = 0

    def flush(self):
        _Buffer.flushed = True


def test_ddr_buffer_checks_before_the_load(residual):
    """The buffer must be line-aligned, inside the DDR the weight master sees, and have a
    physical address and flush(); an unusable one is freed and nothing is written."""
    mmio = Untouchable()

    def hw_params(offset):
        if offset == rm.offset("HW_PARAMS"):
            return rm.field_value("HW_PARAMS", lanes=3, weight_bits=8, membrane_bits=24,
                                  input_bits=8)
        return Untouchable.read(mmio, offset)

    mmio.read = hw_params
    freed = []

    def allocate_at(address):
        class Buf(_Buffer):
            physical_address = address

            def freebuffer(self):
                freed.append(address)
        return lambda shape, dtype: np.zeros(shape, dtype).view(Buf)

    for address, match in ((0x1000_0008, r"0x10000008 is not aligned to a line \(32 bytes\)"),
                           (0x1FFF_FFE0, r"outside the DDR the weight master sees "
                                         r"\(0x00000000..0x1fffffff")):
        acc = Accelerator(mmio, None, allocate_at(address))
        with pytest.raises(BoardError, match=match):
            acc.load(residual[1])
        assert freed[-1] == address and acc.images is None
    acc = Accelerator(mmio, None, lambda shape, dtype: np.zeros(shape, dtype))
    with pytest.raises(BoardError, match="without physical_address and flush"):
        acc.attach(residual[1])
    with pytest.raises(BoardError, match="needs allocate"):
        Accelerator(mmio, None, None).attach(residual[1])
    # attach (memories loaded earlier) stages the DDR words in host memory and writes
    # nothing (Untouchable fails any write).
    acc = Accelerator(mmio, None, allocate_at(0x1000_0000))
    _Buffer.flushed = False
    acc.attach(residual[1])
    assert acc.weight_addr == 0x1000_0000 and _Buffer.flushed
    n = len(external_words(residual[1]))
    assert list(acc.ddr_buffer[:n]) == external_words(residual[1])


def test_a_bitstream_built_for_other_depths_is_refused():
    """HW_PARAMS shows lanes and widths only; the build record (address_map.json of
    `twinspike compile --vivado`, read beside the bitstream) shows the depths, which decide
    where the weights split between chip and DDR."""
    import dataclasses
    import json

    from twinspike.sw.layer_sequencer import AcceleratorParams

    built = dataclasses.asdict(AcceleratorParams(weight_depth=1 << 14))
    acc = Accelerator(Untouchable(), None, None, build={"design": "accelerator",
                                                       "params": built})
    with pytest.raises(BoardError, match=r"generated for other AcceleratorParams "
                                         r"\(weight_depth differ"):
        acc.check(AcceleratorParams())
    Accelerator(Untouchable(), None, None, build={"params": dataclasses.asdict(
        AcceleratorParams())}).check(AcceleratorParams())


def test_build_record_of_the_other_top_is_named(tmp_path):
    import json

    from twinspike import board

    (tmp_path / "address_map.json").write_text(json.dumps({"design": "glm"}))
    with pytest.raises(BoardError, match=r"design 'glm', expected 'accelerator' .*drive it "
                                         r"with GlmAccelerator"):
        board.read_build(tmp_path / "address_map.json", "accelerator")
