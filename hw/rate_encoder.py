"""MyHDL twin of the rate encoder (semantics in ``sw/rate_encoder.py``).

Ports: ``clk``, ``rst`` (synchronous, active high: clears the pixel registers and loads the lane
seeds), ``load`` and ``pixel`` (``in_bits``), ``en``, and ``spikes`` (``n_inputs`` bits, input
``i`` in bit ``i``).

* Loading an image: each clock edge with ``load`` high shifts ``pixel`` into a chain of pixel
  registers; pixels are streamed in ascending order, so after ``n_inputs`` such edges register
  ``i`` holds pixel ``i``. While ``load`` is high the LFSR bank (``hw/lfsr.py``) is held at its
  lane seeds: this is the per-image reset, and it overrides ``en``.
* Encoding: ``spikes`` is combinational, bit ``i`` = (top ``in_bits`` bits of lane ``i``) <
  register ``i``: the spikes of the current timestep. Each clock edge with ``en`` high and
  ``load`` low advances every lane one step (the next timestep).
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq,
                   block, instance, intbv)

from twinspike.hw.lfsr import lfsr
from twinspike.sw.rate_encoder import RateEncoderParams
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = RateEncoderParams

#: The bench prints this line before the spike words of each image.
IMAGE_MARKER = "image"


@block
def encoder_lane(clk, rst, load, pixel_in, pixel_reg, level, spike):
    """One input: its stage of the pixel load chain and its comparator."""

    @always_seq(clk.posedge, reset=rst)
    def shift_in():
        if load:
            pixel_reg.next = pixel_in

    @always_comb
    def compare():
        spike.next = level < pixel_reg

    return shift_in, compare


@block
def rate_encoder(clk, rst, load, pixel, en, spikes, p: RateEncoderParams):
    width, n = p.lfsr_width, p.n_inputs
    reseed = ResetSignal(0, active=1, isasync=False)
    lane_values = Signal(intbv(0)[width * n:])
    bank = lfsr(clk, reseed, en, lane_values, p.lfsr)

    pixel_regs = [Signal(intbv(0)[p.in_bits:]) for i in range(n)]
    chain_inputs = pixel_regs[1:] + [pixel]
    spike_bits = [Signal(bool(0)) for i in range(n)]
    lanes = [encoder_lane(clk, rst, load, chain_inputs[i], pixel_regs[i],
                          lane_values(i * width + width, i * width + p.shift), spike_bits[i])
             for i in range(n)]
    flat = ConcatSignal(*reversed(spike_bits)) if n > 1 else spike_bits[0]

    @always_comb
    def reseed_on_load():
        reseed.next = rst or load

    @always_comb
    def gather():
        spikes.next = flat

    return bank, lanes, reseed_on_load, gather


def ports(p: RateEncoderParams) -> dict:
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                load=Signal(bool(0)), pixel=Signal(intbv(0)[p.in_bits:]),
                en=Signal(bool(0)), spikes=Signal(intbv(0)[p.n_inputs:]))


def top(p: RateEncoderParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return rate_encoder(p=p, **ports(p))


@block
def testbench(p: RateEncoderParams, images, n_steps: int):
    """Self-checking bench: resets, then for each image of ``images`` (``(B, n_inputs)``) loads
    its pixels, prints the line ``image`` and then the spike word (hex) at each of ``n_steps``
    timesteps, advancing once per timestep."""
    n = p.n_inputs
    pixels = tuple(int(v) for row in images for v in row)
    n_images = len(pixels) // n
    s = ports(p)
    clk, rst, load, pixel = s["clk"], s["rst"], s["load"], s["pixel"]
    en, spikes = s["en"], s["spikes"]
    dut = rate_encoder(clk, rst, load, pixel, en, spikes, p)

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        load.next = 0
        en.next = 0
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for b in range(n_images):
            load.next = 1
            for i in range(n):
                pixel.next = pixels[b * n + i]
                yield clk.posedge
                yield clk.negedge
            load.next = 0
            en.next = 1
            print("image")  # == IMAGE_MARKER (conversion needs a literal)
            for t in range(n_steps):  # noqa: B007 (VHDL forbids leading _)
                print(spikes)
                yield clk.posedge
                yield clk.negedge
            en.next = 0
        print("done")
        raise StopSimulation()

    return dut, clock, stimulus


def parse_lines(p: RateEncoderParams, lines: list[str]) -> np.ndarray:
    """The bench prints ``image`` and then one hex spike word per timestep, for each image:
    back into ``(B, n_steps, n_inputs)``."""
    per_image: list[list[int]] = []
    for line in lines:
        if line.strip() == IMAGE_MARKER:
            per_image.append([])
        else:
            per_image[-1].append(int(line, 16))
    words = np.array(per_image, dtype=object)  # Python ints: words can exceed 64 bits
    bit = np.arange(p.n_inputs)
    return ((words[:, :, np.newaxis] >> bit) & 1).astype(np.uint8)


def run_bench(p: RateEncoderParams, images, n_steps: int):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return parse_lines(p, toolchain.run_myhdl(testbench(p, images, n_steps)))
