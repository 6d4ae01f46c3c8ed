"""The GLM network's top level for the Zynq-7020 (PYNQ-Z2): the GLM neuron unit
(``hw/glm_neuron.py``) behind the same AXI conventions as the IF accelerator (``hw/top.py``):
the AXI4-Lite register file generated from ``sw/register_map.REGISTERS`` (the same table,
offsets and meanings), an AXI4-Stream input of spike trains and an AXI4-Stream output of one
result word per sample.

The top is **generated per** :class:`~twinspike.sw.glm_neuron.GlmNeuronParams`: sizes, widths,
the kernel table (as the trace ROM), the sigmoid LUT and the sampler seed are elaboration-time
constants of the synthesised design (the trained network's GLM parameters). The binary weights
and the biases are runtime data, loaded through the memory window.

Ports: exactly :data:`twinspike.hw.top.STREAM_PORT_NAMES` (``aclk``, ``aresetn`` active low and
synchronous, ``s_axi_*``, ``s_axis_*``, ``m_axis_*``, ``interrupt``; no DDR master: the GLM network is small), so the Vivado wrapper
and the driver see the same interfaces.

* ``s_axis`` (8-bit ``TDATA``): the input spike trains, per sample ``T`` frames (``T`` = the
  ``T`` register), frame ``t = 0..T-1`` is ``B = ceil(n_in / 8)`` bytes, byte ``b`` holding
  inputs ``8b .. 8b+7`` with input ``8b + i`` in bit ``i`` (``s_j(t)``, the rate encoder's
  train; unused high bits of the last byte are ignored). ``TLAST`` on the sample's last byte
  (frame ``T - 1``, byte ``B - 1``): :func:`spike_beats`. Spikes rather than pixels: the unit's
  semantics start from spike trains, so any encoder (or a sensor that already spikes) feeds
  it, and the host-side rate encoder is the very Cython/reference encoder the evaluator uses.
* ``m_axis`` (32-bit ``TDATA``): per sample one word ``decision | decision_step << 8 |
  fallback << 31`` (bits 7..0 the class, 23..8 the decision timestep 1..T, 31 set when no
  output spiked by ``T`` and the class is the membrane argmax), ``TLAST`` on every word
  (:func:`result_word`, :func:`parse_results`).

Run: a sample's bytes are written into an input buffer (``2**ceil(log2 max_steps)`` frames of
``2**ceil(log2 B)`` bytes, distributed RAM with an asynchronous read) while the stream is
accepted; after its last byte the unit starts with ``n_steps = T`` and reads ``s_j(t-1)``
from the buffer; its ``done`` puts the result word into the output adapter, and the next
sample is accepted (the stream is held, ``TREADY`` low, while the unit computes). One sample
costs ``T * B`` beats plus ``steps * (n_in * K + 2)`` unit cycles (early exit) plus a few.

Registers (the shared table; what they mean to this core):

* ``VERSION``, ``CONTROL`` (``start``, ``soft_reset``, ``irq_enable``), ``STATUS``, ``IRQ``,
  ``IMAGES`` (samples per run) and the interrupt line: exactly as in ``hw/top.py``. The run
  ends when the ``IMAGES``-th result word has been accepted on ``m_axis``.
* ``T``: timesteps per sample, ``1..max_steps`` of the generated top; 0 or more than
  ``max_steps`` ends the run at start with ``ERROR`` 2 ``T_RANGE``.
* ``ERROR``: 2 ``T_RANGE`` (above), 3 ``INPUT_SHORT`` (``TLAST`` before the sample's last
  byte), 4 ``INPUT_LONG`` (the sample's last byte without ``TLAST``); the stream then closes.
* ``CYCLES``: unit cycles summed over the run (``busy`` cycles: ``steps * (n_in * K + 2)``
  per sample). ``SOPS``: the additions the unit performs, ``n_out * n_in * K`` per timestep
  computed (early exit counted).
* ``HW_PARAMS``: ``lanes`` = ``n_out``, ``weight_bits`` = 1 (binary synapses),
  ``membrane_bits``, ``input_bits`` = 0 (no pixel input: marks a GLM top; an IF top has at
  least 1).
* ``MEM_SELECT`` / ``MEM_ADDR`` / ``MEM_DATA``: the window of ``sw/register_map``, memories
  ``weight`` (code 1; word ``j * K + k`` has bit ``i`` set iff ``w[i, j, k] = +1``, ``n_out``
  bits, ``n_in * K`` words) and ``bias`` (code 2; ``n_out`` words, two's complement in
  ``bias_bits``). Both words fit one 32-bit chunk, so ``MEM_ADDR`` is the word address.
  Other codes, addresses beyond a memory, and writes while ``STATUS.busy`` are dropped.
* Not used by this core: ``LAYER_COUNT`` and ``TABLE_BASE`` (plain storage, read back what was
  written, no effect) and ``SATURATION`` (reads 0: the membrane is sized so the trained
  network does not saturate; the unit does not count).
"""
from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from myhdl import (ResetSignal, Signal, always, always_comb, always_seq, block, concat, enum,
                   intbv, modbv)

from twinspike.hw import toolchain
from twinspike.hw.axi import (axi_lite_regs, axis_input, axis_output, bench_harness, bench_ops,
                              core_ports, parse_bench)
from twinspike.hw.common import unsigned_signal
from twinspike.hw.glm_neuron import glm_neuron
from twinspike.hw.glm_neuron import ports as unit_ports
from twinspike.hw.glm_neuron import weight_words
from twinspike.hw.top import AXI_LITE, Host
from twinspike.hw.top import STREAM_OUTPUTS as OUTPUTS
from twinspike.hw.top import STREAM_PORT_NAMES as PORT_NAMES
from twinspike.hw.top import simulate_host as top_simulate_host
from twinspike.sw.axi import AxiLiteParams, AxisParams
from twinspike.sw.glm_neuron import GlmNeuronParams, check_biases, check_params, check_spikes
from twinspike.sw.register_map import (DATA_BITS, ERROR, REGISTERS, chunks_per_word, field_value,
                                       memory_code, memory_writes, offset)

__all__ = ["glm_top", "ports", "top", "PORT_NAMES", "MEMORIES", "hw_params_word", "word_bits",
           "memory_words", "host_setup", "start_word", "spike_beats", "result_word",
           "parse_results", "cycles_per_sample", "sops_per_sample", "simulate_host",
           "run_batch", "dut_instance", "testbench", "parse_lines", "run_bench",
           "run_split_ghdl"]

Params = GlmNeuronParams
#: The memories of the GLM top (``MEM_SELECT`` codes of ``sw/register_map.MEMORIES``).
MEMORIES = ("weight", "bias")
RESULT_BITS = 32
STEP_LSB, FALLBACK_BIT = 8, 31
ERR_T, ERR_SHORT, ERR_LONG = ERROR["T_RANGE"], ERROR["INPUT_SHORT"], ERROR["INPUT_LONG"]


def input_stream() -> AxisParams:
    return AxisParams(lanes=1, lane_bits=8)


def result_stream() -> AxisParams:
    return AxisParams(lanes=1, lane_bits=RESULT_BITS)


def bytes_per_frame(p: GlmNeuronParams) -> int:
    return -(-p.n_in // 8)


def hw_params_word(p: GlmNeuronParams) -> int:
    """``HW_PARAMS`` of the GLM top (``input_bits`` 0 marks it)."""
    return field_value("HW_PARAMS", lanes=p.n_out, weight_bits=1, membrane_bits=p.membrane_bits,
                       input_bits=0)


def word_bits(memory: str, p: GlmNeuronParams) -> int:
    """Bits of one word of ``memory`` ('weight' or 'bias')."""
    if memory == "weight":
        return p.n_out
    if memory == "bias":
        return p.bias_bits
    raise KeyError(f"no GLM memory {memory!r} (memories: {', '.join(MEMORIES)})")


def memory_words(p: GlmNeuronParams, weights, biases) -> dict[str, list[int]]:
    """The words the window writes (and ``twinspike compile`` stores): ``weight`` as
    ``hw/glm_neuron.weight_words``, ``bias`` in two's complement of ``bias_bits``."""
    mask = (1 << p.bias_bits) - 1
    return {"weight": list(weight_words(p, weights)),
            "bias": [int(b) & mask for b in check_biases(p, biases, "memory_words")]}


def start_word(irq_enable: bool = True) -> int:
    return field_value("CONTROL", start=1, irq_enable=int(irq_enable))


def host_setup(p: GlmNeuronParams, weights, biases, T: int, n_samples: int,
               irq_enable: bool = True) -> list[tuple[int, int]]:
    """``(offset, value)`` register writes before a start: ``T``, ``IMAGES``,
    ``CONTROL.irq_enable`` and both memories through the window (``weights`` None: nothing
    loaded). The start is ``(offset('CONTROL'), start_word(irq_enable))``."""
    writes = [(offset("T"), T), (offset("IMAGES"), n_samples),
              (offset("CONTROL"), field_value("CONTROL", irq_enable=int(irq_enable)))]
    if weights is None:
        return writes
    for name, words in memory_words(p, weights, biases).items():
        writes += memory_writes(name, words, word_bits(name, p))
    return writes


def spike_beats(p: GlmNeuronParams, spikes) -> list[tuple[int, int]]:
    """``(TDATA, TLAST)`` per beat for ``spikes`` ``(B, T, n_in)`` (module docstring)."""
    s = check_spikes(p, spikes, "spike_beats")
    if s.ndim != 3:
        raise ValueError(f"spike_beats.spikes must have shape (B, T, {p.n_in}), got {s.shape}")
    n, T = s.shape[:2]
    nb = bytes_per_frame(p)
    padded = np.zeros((n, T, nb * 8), dtype=np.int64)
    padded[:, :, :p.n_in] = s
    data = (padded.reshape(n, T, nb, 8) << np.arange(8)).sum(-1).reshape(n, T * nb)
    return [(int(data[b, i]), int(i == T * nb - 1)) for b in range(n) for i in range(T * nb)]


def result_word(decision: int, step: int, fallback: int) -> int:
    return int(decision) | int(step) << STEP_LSB | int(fallback) << FALLBACK_BIT


def parse_results(words) -> list[dict]:
    """Result beats ``(TDATA, TLAST)`` into ``dict(decision, step, fallback)`` per sample."""
    out = []
    for data, last in words:
        if not last:
            raise ValueError(f"result word {data:#x} without TLAST (one word per sample)")
        out.append(dict(decision=data & 0xFF, step=(data >> STEP_LSB) & 0xFFFF,
                        fallback=(data >> FALLBACK_BIT) & 1))
    return out


def cycles_per_sample(p: GlmNeuronParams, steps) -> np.ndarray:
    """``CYCLES`` per sample: the unit's busy cycles, ``steps * (n_in * K + 2)``."""
    return np.asarray(steps, dtype=np.int64) * (p.n_in * p.n_kernels + 2)


def sops_per_sample(p: GlmNeuronParams, steps) -> np.ndarray:
    """``SOPS`` per sample: ``steps * n_out * n_in * K`` additions."""
    return np.asarray(steps, dtype=np.int64) * (p.n_out * p.n_in * p.n_kernels)


def _check_window(p: GlmNeuronParams) -> None:
    for m in MEMORIES:
        if chunks_per_word(word_bits(m, p)) != 1:
            raise ValueError(f"glm_top: {m} words of {word_bits(m, p)} bits need more than one "
                             f"{DATA_BITS}-bit chunk")


@block
def glm_top(aclk, aresetn, s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid,
            s_axi_wready, s_axi_wdata, s_axi_wstrb, s_axi_bvalid, s_axi_bready, s_axi_bresp,
            s_axi_arvalid, s_axi_arready, s_axi_araddr, s_axi_rvalid, s_axi_rready, s_axi_rdata,
            s_axi_rresp, s_axis_tvalid, s_axis_tready, s_axis_tdata, s_axis_tlast,
            m_axis_tvalid, m_axis_tready, m_axis_tdata, m_axis_tlast, interrupt,
            p: GlmNeuronParams = GlmNeuronParams(), axi_p: AxiLiteParams = AxiLiteParams()):
    """The GLM top (module docstring)."""
    check_params(p, "glm_top")
    _check_window(p)
    clk = aclk
    n_words, n_out, max_steps = p.n_in * p.n_kernels, p.n_out, p.max_steps
    nb = bytes_per_frame(p)
    LB = (nb - 1).bit_length()                     # byte-index bits (0: one byte per frame)
    FB = max(1, (max_steps - 1).bit_length())      # frame-index bits
    depth = 1 << (FB + LB)
    sop_step = n_out * n_words
    WCODE, BCODE = memory_code("weight"), memory_code("bias")

    rst = ResetSignal(0, active=1, isasync=False)
    core_rst = ResetSignal(0, active=1, isasync=False)
    adapt_rst = ResetSignal(0, active=1, isasync=False)
    unit_rst = ResetSignal(0, active=1, isasync=False)

    # The register file.
    axi = SimpleNamespace(**{n: s for n, s in zip(AXI_LITE, (
        s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid, s_axi_wready, s_axi_wdata,
        s_axi_wstrb, s_axi_bvalid, s_axi_bready, s_axi_bresp, s_axi_arvalid, s_axi_arready,
        s_axi_araddr, s_axi_rvalid, s_axi_rready, s_axi_rdata, s_axi_rresp))})
    core = core_ports()
    core.interrupt = interrupt
    core.hw_params = Signal(intbv(hw_params_word(p))[32:])     # constant (undriven)
    regs = axi_lite_regs(clk, rst, axi, core, REGISTERS, axi_p)
    control, irq_set, t_reg, images_reg = core.control, core.irq_set, core.t, core.images
    mem_select, mem_addr, mem_data, mem_data_we = (core.mem_select, core.mem_addr, core.mem_data,
                                                   core.mem_data_we)
    start_bit = REGISTERS[1].field("start").lsb
    soft_bit = REGISTERS[1].field("soft_reset").lsb

    # The GLM unit.
    u = unit_ports(p)
    u["clk"], u["rst"] = clk, unit_rst
    unit = glm_neuron(p=p, **u)
    u_start, u_busy, u_done, u_step = u["start"], u["busy"], u["done"], u["step"]
    u_in_addr, u_in_spike, u_n_steps = u["in_addr"], u["in_spike"], u["n_steps"]
    u_decision, u_dstep, u_fallback, u_step_valid = (u["decision"], u["decision_step"],
                                                     u["fallback"], u["step_valid"])
    w_we, w_addr, w_data = u["w_we"], u["w_addr"], u["w_data"]
    b_we, b_addr, b_data = u["b_we"], u["b_addr"], u["b_data"]

    # The stream adapters; the input stream is open only for the run's samples.
    in_open = Signal(bool(0))
    in_valid, in_ready = Signal(bool(0)), Signal(bool(0))
    px_valid, px_ready, px_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    px_data = unsigned_signal(8)
    res_valid, res_ready, res_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(1))
    res_data = unsigned_signal(RESULT_BITS)
    s_bus = SimpleNamespace(tvalid=in_valid, tready=in_ready, tdata=s_axis_tdata,
                            tlast=s_axis_tlast)
    m_bus = SimpleNamespace(tvalid=m_axis_tvalid, tready=m_axis_tready, tdata=m_axis_tdata,
                            tlast=m_axis_tlast)
    spikes_in = axis_input(clk, adapt_rst, s_bus, px_valid, px_ready, px_data, px_last,
                           input_stream())
    results_out = axis_output(clk, adapt_rst, res_valid, res_ready, res_data, res_last, m_bus,
                              result_stream())

    # Run control.
    phase_t = enum("IDLE", "RECV", "RUN", "EMIT", "FLUSH")
    phase = Signal(phase_t.IDLE)
    running, done, failed, go = (Signal(bool(0)) for _ in range(4))
    n_images, images_in, samples, images_out = (unsigned_signal(32) for _ in range(4))
    t_lat = Signal(intbv(1, min=0, max=max_steps + 1))
    last_frame, frame_w = unsigned_signal(FB), unsigned_signal(FB)
    byte_w = unsigned_signal(max(LB, 1))
    code = unsigned_signal(8)
    cyc_total, sop_total = Signal(modbv(0)[64:]), Signal(modbv(0)[64:])
    irq_pulse, start_pulse = Signal(bool(0)), Signal(bool(0))
    dec8, step16 = unsigned_signal(8), unsigned_signal(16)

    @always_comb
    def resets():
        go.next = control[start_bit] and not running
        rst.next = not aresetn
        core_rst.next = not aresetn or control[soft_bit]
        unit_rst.next = not aresetn or control[soft_bit]
        adapt_rst.next = not aresetn or control[soft_bit] or (control[start_bit] and not running)

    @always_comb
    def stream_gate():
        in_valid.next = s_axis_tvalid and in_open
        s_axis_tready.next = in_ready and in_open
        px_ready.next = phase == phase_t.RECV

    @always_comb
    def to_unit():
        u_start.next = start_pulse
        u_n_steps.next = t_lat
        dec8.next = u_decision
        step16.next = u_dstep

    status, error_reg = core.status, core.error
    cycles_lo, cycles_hi, sops_lo, sops_hi = core.cycles_lo, core.cycles_hi, core.sops_lo, core.sops_hi

    @always_comb
    def to_registers():
        status.next = concat(failed, done, running)     # error, done, busy
        irq_set.next = irq_pulse
        error_reg.next = code
        cycles_lo.next = cyc_total[32:]
        cycles_hi.next = cyc_total[64:32]
        sops_lo.next = sop_total[32:]
        sops_hi.next = sop_total[64:32]

    @always_seq(clk.posedge, reset=core_rst)
    def run_control():
        irq_pulse.next = 0
        start_pulse.next = 0
        if go:
            done.next = 0
            failed.next = 0
            code.next = 0
            n_images.next = images_reg
            images_in.next = 0
            samples.next = 0
            images_out.next = 0
            cyc_total.next = 0
            sop_total.next = 0
            frame_w.next = 0
            byte_w.next = 0
            res_valid.next = 0
            if images_reg == 0:
                done.next = 1
                irq_pulse.next = 1
            elif t_reg == 0 or t_reg > max_steps:
                done.next = 1
                failed.next = 1
                code.next = ERR_T
                irq_pulse.next = 1
            else:
                t_lat.next = t_reg
                last_frame.next = t_reg - 1
                running.next = 1
                in_open.next = 1
                phase.next = phase_t.RECV
        elif running:
            if s_axis_tvalid and in_ready and in_open and s_axis_tlast:
                images_in.next = images_in + 1
                if images_in + 1 == n_images:
                    in_open.next = 0
            if u_busy:
                cyc_total.next = cyc_total + 1
            if u_step_valid:
                sop_total.next = sop_total + sop_step
            if phase == phase_t.RECV:
                if px_valid:
                    if frame_w == last_frame and byte_w == nb - 1:
                        if px_last:
                            start_pulse.next = 1
                            phase.next = phase_t.RUN
                        else:
                            code.next = ERR_LONG
                            failed.next = 1
                            done.next = 1
                            irq_pulse.next = 1
                            running.next = 0
                            in_open.next = 0
                            phase.next = phase_t.IDLE
                    elif px_last:
                        code.next = ERR_SHORT
                        failed.next = 1
                        done.next = 1
                        irq_pulse.next = 1
                        running.next = 0
                        in_open.next = 0
                        phase.next = phase_t.IDLE
                    elif byte_w == nb - 1:
                        byte_w.next = 0
                        frame_w.next = frame_w + 1
                    else:
                        byte_w.next = byte_w + 1
            elif phase == phase_t.RUN:
                if u_done:
                    res_data.next = concat(u_fallback, intbv(0)[7:], step16, dec8)
                    res_valid.next = 1
                    phase.next = phase_t.EMIT
            elif phase == phase_t.EMIT:
                if res_ready:
                    res_valid.next = 0
                    frame_w.next = 0
                    byte_w.next = 0
                    samples.next = samples + 1
                    if samples + 1 == n_images:
                        phase.next = phase_t.FLUSH
                    else:
                        phase.next = phase_t.RECV
            if m_axis_tvalid and m_axis_tready and m_axis_tlast:
                images_out.next = images_out + 1
                if images_out + 1 == n_images:
                    running.next = 0
                    done.next = 1
                    irq_pulse.next = 1
                    phase.next = phase_t.IDLE

    # The input buffer: written from the stream, read asynchronously by the unit.
    spike_ram = [unsigned_signal(8) for _ in range(depth)]
    wr_addr, rd_addr = unsigned_signal(FB + LB), unsigned_signal(FB + LB)
    buf_we = Signal(bool(0))
    rd_byte = unsigned_signal(8)
    frame_r = unsigned_signal(FB)
    pad = max(len(u_in_addr), 3 + LB)
    in_pad = unsigned_signal(pad)
    bit_idx = unsigned_signal(3)

    @always_comb
    def buffer_address():
        buf_we.next = phase == phase_t.RECV and px_valid and running
        if u_step == 0:
            frame_r.next = 0
        else:
            frame_r.next = u_step - 1
        in_pad.next = u_in_addr

    if LB:
        byte_r = unsigned_signal(LB)

        @always_comb
        def addresses():
            byte_r.next = in_pad[3 + LB:3]
            bit_idx.next = in_pad[3:]
            wr_addr.next = concat(frame_w, byte_w)
            rd_addr.next = concat(frame_r, byte_r)
    else:
        @always_comb
        def addresses():
            bit_idx.next = in_pad[3:]
            wr_addr.next = frame_w
            rd_addr.next = frame_r

    @always(clk.posedge)
    def buffer_write():
        if buf_we:
            spike_ram[wr_addr].next = px_data

    @always_comb
    def buffer_read():
        rd_byte.next = spike_ram[rd_addr]

    @always_comb
    def spike_select():
        u_in_spike.next = rd_byte[bit_idx]

    # The memory window: one chunk per word, so MEM_ADDR is the word address.
    bias_raw = unsigned_signal(p.bias_bits)

    @always_comb
    def window_bias():
        bias_raw.next = mem_data[p.bias_bits:]

    @always_seq(clk.posedge, reset=rst)
    def window_write():
        w_we.next = 0
        b_we.next = 0
        if mem_data_we and not running:
            if mem_select == WCODE and mem_addr < n_words:
                w_we.next = 1
                w_addr.next = mem_addr
                w_data.next = mem_data[n_out:]
            elif mem_select == BCODE and mem_addr < n_out:
                b_we.next = 1
                b_addr.next = mem_addr
                b_data.next = bias_raw.signed()

    return (regs, unit, spikes_in, results_out, resets, stream_gate, to_unit, to_registers,
            run_control, buffer_address, addresses, buffer_write, buffer_read, spike_select,
            window_bias, window_write)


def ports(p: GlmNeuronParams = GlmNeuronParams(), axi_p: AxiLiteParams = AxiLiteParams()) -> dict:
    """Fresh signals for every port of :func:`glm_top`, by name."""
    a, ins, rs = axi_p.addr_bits, input_stream(), result_stream()
    s = dict(aclk=Signal(bool(0)), aresetn=ResetSignal(1, active=0, isasync=False))
    widths = dict(awaddr=a, araddr=a, wdata=DATA_BITS, wstrb=DATA_BITS // 8, bresp=2,
                  rdata=DATA_BITS, rresp=2)
    for n in AXI_LITE:
        s[f"s_axi_{n}"] = unsigned_signal(widths[n]) if n in widths else Signal(bool(0))
    for prefix, sp in (("s_axis", ins), ("m_axis", rs)):
        s[f"{prefix}_tvalid"], s[f"{prefix}_tready"] = Signal(bool(0)), Signal(bool(0))
        s[f"{prefix}_tdata"], s[f"{prefix}_tlast"] = unsigned_signal(sp.tdata_bits), Signal(bool(0))
    s["interrupt"] = Signal(bool(0))
    assert tuple(s) == PORT_NAMES
    return s


def top(p: GlmNeuronParams = GlmNeuronParams(), axi_p: AxiLiteParams = AxiLiteParams()):
    """The top on fresh ports, to convert or synthesise."""
    return glm_top(**ports(p, axi_p), p=p, axi_p=axi_p)


# ----------------------------------------------------------------------------- host side


def simulate_host(p: GlmNeuronParams, scenario, seed: int = 0, axi_p=AxiLiteParams(), **kw):
    """Run ``scenario(host)`` (a generator function driving :class:`hw.top.Host`, the same
    bus-functional model as the IF top's) against a fresh GLM top in MyHDL; returns the host."""
    return top_simulate_host(p, scenario, seed, axi_p, design=glm_top, design_ports=ports, **kw)


#: What :func:`run_batch` reads after the run.
STATUS_READS = ("STATUS", "IRQ", "ERROR", "CYCLES_LO", "CYCLES_HI", "SOPS_LO", "SOPS_HI",
                "SATURATION", "VERSION", "HW_PARAMS", "T", "IMAGES")


def run_batch(host: Host, p: GlmNeuronParams, weights, biases, spikes, T: int | None = None,
              limit: int = 2_000_000, n_samples: int | None = None):
    """Scenario step: configure and load (:func:`host_setup`), queue :func:`spike_beats`,
    start, wait for the interrupt, read :data:`STATUS_READS` into ``host.regs`` and clear
    ``IRQ``."""
    spikes = np.asarray(spikes)
    T = spikes.shape[1] if T is None else T
    n = len(spikes) if n_samples is None else n_samples
    yield from host.writes(host_setup(p, weights, biases, T, n))
    if len(spikes):
        host.beats += spike_beats(p, spikes)
    yield from host.write(offset("CONTROL"), start_word(True))
    waited = 0
    while not host.s["interrupt"]:
        yield host.s["aclk"].negedge
        waited += 1
        if waited > limit:
            raise AssertionError("no interrupt")
    host.regs = {}
    for name in STATUS_READS:
        yield from host.reg(name)
        host.regs[name] = host.value
    host.regs["CYCLES"] = host.regs["CYCLES_HI"] << 32 | host.regs["CYCLES_LO"]
    host.regs["SOPS"] = host.regs["SOPS_HI"] << 32 | host.regs["SOPS_LO"]
    yield from host.write(offset("IRQ"), 1)


# ----------------------------------------------------------------------------- convertible bench


def bench_program(p, weights, biases, T, n_samples) -> list[tuple[int, int, int]]:
    """The bench's AXI4-Lite program (``hw/axi.bench_ops``): load and configure, start,
    wait, read back."""
    return bench_ops(host_setup(p, weights, biases, T, n_samples), start_word(True))


@block
def dut_instance(aclk, aresetn, s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid,
                 s_axi_wready, s_axi_wdata, s_axi_wstrb, s_axi_bvalid, s_axi_bready, s_axi_bresp,
                 s_axi_arvalid, s_axi_arready, s_axi_araddr, s_axi_rvalid, s_axi_rready,
                 s_axi_rdata, s_axi_rresp, s_axis_tvalid, s_axis_tready, s_axis_tdata,
                 s_axis_tlast, m_axis_tvalid, m_axis_tready, m_axis_tdata, m_axis_tlast,
                 interrupt, p, axi_p):
    """:func:`glm_top` in MyHDL; in VHDL an instance of the separately converted entity
    ``glm_top`` (as ``hw/top.dut_instance``), so that entity can be converted with
    ``initial_values`` off."""
    dut = glm_top(aclk, aresetn, s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid,
                  s_axi_wready, s_axi_wdata, s_axi_wstrb, s_axi_bvalid, s_axi_bready,
                  s_axi_bresp, s_axi_arvalid, s_axi_arready, s_axi_araddr, s_axi_rvalid,
                  s_axi_rready, s_axi_rdata, s_axi_rresp, s_axis_tvalid, s_axis_tready,
                  s_axis_tdata, s_axis_tlast, m_axis_tvalid, m_axis_tready, m_axis_tdata,
                  m_axis_tlast, interrupt, p, axi_p)
    for name in OUTPUTS:
        locals()[name].driven = "wire"
    return dut


dut_instance.vhdl_code = ("u_top: entity work.glm_top port map (\n"
                          + ",\n".join(f"    {n} => ${n}" for n in PORT_NAMES) + "\n);\n")


@block
def testbench(p: GlmNeuronParams, weights, biases, spikes, axi_p: AxiLiteParams = AxiLiteParams(),
              split: bool = False):
    """Self-checking, convertible bench of the GLM top (as ``hw/top.testbench``): a
    ROM-driven AXI4-Lite master plays :func:`bench_program` (a write answered other than OKAY
    prints ``b addr resp``), a source streams :func:`spike_beats` with the gaps of
    :data:`~twinspike.hw.axi.SOURCE_PATTERN`, a sink takes result words with the stalls of
    :data:`~twinspike.hw.axi.SINK_PATTERN` and prints ``r word last``; after the interrupt (``t cycles`` if none
    came) the master prints ``R offset value`` per read. ``split``: the top is the separate
    entity of :func:`dut_instance` (for :func:`run_split_ghdl`)."""
    spikes = check_spikes(p, spikes, "testbench")
    n_samples, T = spikes.shape[:2]
    s = ports(p, axi_p)
    s["aresetn"] = ResetSignal(0, active=0, isasync=False)
    dut = (dut_instance if split else glm_top)(**s, p=p, axi_p=axi_p)
    ops = bench_program(p, weights, biases, T, n_samples)
    beats = spike_beats(p, spikes)
    per_sample = T * (p.n_in * p.n_kernels + 2) + 4 * T * bytes_per_frame(p) + 64
    wait_limit = n_samples * per_sample + 1000
    harness = bench_harness(s, ops, beats, wait_limit, axi_p)
    return dut, harness


def parse_lines(lines: list[str]) -> dict:
    """The bench's lines: ``records`` (per sample), ``regs`` (the reads of
    :data:`~twinspike.hw.axi.BENCH_READS`, then ``IRQ_AFTER``, ``STATUS_AFTER``) and ``bus_errors``."""
    words, regs, errors = parse_bench(lines)
    return dict(records=parse_results(words), regs=regs, bus_errors=errors)


def run_bench(p: GlmNeuronParams, weights, biases, spikes) -> dict:
    """Simulate :func:`testbench` in MyHDL and parse its lines."""
    with contextlib.redirect_stderr(io.StringIO()):
        return parse_lines(toolchain.run_myhdl(testbench(p, weights, biases, spikes)))


def run_split_ghdl(p: GlmNeuronParams, weights, biases, spikes,
                   workdir) -> tuple[list[str], list[str]]:
    """The initial-values check (as ``hw/top.run_split_ghdl``): the top converted alone with
    ``initial_values`` off, the bench (``split``) with them on, run in GHDL from reset and in
    MyHDL; returns ``(myhdl_lines, ghdl_lines)`` (before ``done``)."""
    toolchain.require("ghdl")
    work = Path(workdir)
    (work / "tb").mkdir(parents=True, exist_ok=True)
    (work / "dut").mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stderr(io.StringIO()):
        testbench(p, weights, biases, spikes, split=True).convert(
            hdl="VHDL", path=str(work / "tb"), name="glm_top_tb", initial_values=True)
        top(p).convert(hdl="VHDL", path=str(work / "dut"), name="glm_top", initial_values=False)
    dut_files = [work / "dut" / toolchain.PCK_NAME, work / "dut" / "glm_top.vhd"]
    toolchain.ghdl_elaborate([*dut_files, work / "tb" / "glm_top_tb.vhd"], "glm_top_tb",
                             work / "ghdl")
    proc = subprocess.run(["ghdl", "-r", "--std=08", "glm_top_tb", "--ieee-asserts=disable"],
                          cwd=work / "ghdl", capture_output=True, text=True, timeout=600)
    lines = []
    for line in proc.stdout.splitlines():
        if "End of Simulation" in line:
            break
        if line.strip():
            lines.append(line)
    ghdl_lines = toolchain.strip_done(lines, "GHDL")
    with contextlib.redirect_stderr(io.StringIO()):
        mine = toolchain.run_myhdl(testbench(p, weights, biases, spikes, split=True))
    return mine, ghdl_lines
