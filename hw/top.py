"""The accelerator's top level for the Zynq-7020 (PYNQ-Z2): the layer sequencer
(``hw/layer_sequencer.py``) behind the AXI4-Lite register file generated from
``sw/register_map.REGISTERS`` and two AXI4-Stream adapters (``hw/axi.py``).

Ports (:data:`PORT_NAMES`; Vivado infers the three AXI interfaces from the prefixes):

* ``aclk``; ``aresetn`` -- **active low, synchronous** (AXI convention): every register of the
  top, the register file and the sequencer's control state go to their reset values; the
  memory contents are kept (RAMs have no reset).
* ``s_axi_*`` -- AXI4-Lite slave (``AWADDR``/``ARADDR`` of ``AxiLiteParams.addr_bits``, 32-bit
  data, no PROT), the register map of ``docs/register-map.md``.
* ``s_axis_*`` -- AXI4-Stream slave, the pixels: one pixel per beat in the low
  ``input_bits`` of ``TDATA`` (``TDATA`` is ``input_bits`` rounded up to whole bytes), canonical
  order, ``TLAST`` on each image's last pixel.
* ``m_axis_*`` -- AXI4-Stream master, the results: per image ``1 + n_outputs`` 32-bit words
  (word 0 = ``first_spike_step << 16 | class``, then the spike count of each output neuron),
  ``TLAST`` on the image's last word (:func:`~twinspike.hw.layer_sequencer.read_result`).
* ``m_axi_*`` -- AXI4 master, read channels only (AR, R; 32-bit addresses, 64-bit data,
  ``ARSIZE`` 3, ``ARBURST`` INCR, ``ARCACHE`` 0b0011): the layer sequencer's DDR weight
  lines, from ``WEIGHT_ADDR`` (``hw/layer_sequencer.py``, *DDR weights*). On the Zynq it goes
  to an HP port.
* ``interrupt`` -- level, active high: ``IRQ.done and CONTROL.irq_enable`` (registered).

Run control (what the registers mean to this core):

* ``CONTROL.start`` (ignored while ``STATUS.busy``): clears ``STATUS.done/error``, ``ERROR``,
  ``CYCLES``, ``SOPS`` and ``SATURATION``, latches ``IMAGES``, empties the two stream adapters
  and lets the sequencer run; the pixel stream is accepted (``TREADY``) for exactly ``IMAGES``
  ``TLAST``-framed images and is closed (``TREADY`` low) otherwise. While no run is in
  progress the sequencer is held in reset, so an unloaded table raises nothing until a start.
  ``IMAGES = 0``: the run ends at once (done, interrupt).
* The run **ends** when the last result word (``TLAST``) of the ``IMAGES``-th image is
  accepted on ``m_axis`` (``STATUS.done``, ``IRQ.done`` set), or when the sequencer reports an
  error (``STATUS.done`` *and* ``STATUS.error``, ``IRQ.done`` set, ``ERROR`` the code; the pixel
  stream closes, words already in the adapters stay until the next start or soft reset empties
  them). ``STATUS.busy`` is high from the start to the end.
* ``ERROR``: the sequencer's codes 1 (bad magic) and 2 (``T = 0``) as they are; its code 3
  (the image's ``px_last`` came early or late) becomes 3 ``INPUT_SHORT`` when the offending
  pixel carried ``TLAST`` (it came before the input layer's last pixel) and 4 ``INPUT_LONG``
  when it did not (the input layer's last pixel came without ``TLAST``). Code 5
  (``LAYER_COUNT``): the sequencer compares the table's population count with ``LAYER_COUNT``
  when an image starts (the host's statement of what it loaded); :func:`host_setup` also
  checks it before writing anything (:func:`check_layer_count`).
* ``STALLS`` (cycles waiting for DDR weight lines, included in ``CYCLES``) and
  ``WEIGHT_FILLS`` (lines fetched): totals over the run's images; ``WEIGHT_ADDR`` goes straight
  to the sequencer. ``ERROR`` 6 ``DDR_READ``: a weight burst failed.
* ``CYCLES``, ``SOPS``, ``SATURATION``: totals over the run's images of the sequencer's
  per-image counters (``cycles``: compute cycles from an image's last pixel to the end of its
  last fire scan, ``sw/layer_sequencer`` ``run(...).cycles``; ``SATURATION`` stops at
  ``2**32 - 1``), updated as each image's last result word leaves the sequencer.
* ``CONTROL.soft_reset``: resets the sequencer's control state, the stream adapters and this
  run control (busy/done/error, counters); not the register file (``IRQ``, ``T``, ... keep
  their values) and not the memories. A write with both ``start`` and ``soft_reset`` only
  resets.
* Memory window: ``MEM_DATA`` writes are assembled exactly as ``sw/register_map.memory_writes``
  lays them out: for memory ``MEM_SELECT`` with ``C`` chunks per word, chunk ``MEM_ADDR mod C``
  is held, and on the word's last chunk (``MEM_ADDR mod C = C - 1``) the word is written at
  ``MEM_ADDR / C`` (one load-port cycle after the write). Padding chunks are dropped; writes to
  an unknown ``MEM_SELECT``, beyond the selected memory's depth, or while ``STATUS.busy`` are
  dropped.
* ``T`` and ``TABLE_BASE`` go straight to the sequencer (read when each image starts;
  ``TABLE_BASE`` plus the table's length must stay inside ``table_depth``). ``HW_PARAMS``:
  ``lanes | weight_bits << 8 | membrane_bits << 16 | input_bits << 24``.

Host side (one statement for benches, tests and the driver): :func:`host_setup` (the register
writes that configure a run and load the compiled images), :func:`pixel_beats` (the stream),
:func:`parse_results` (result words back into records). :class:`Host` is a MyHDL
bus-functional model of the PS side (AXI4-Lite master with random channel order and stalls,
a stream source with random gaps, a sink with random stalls) for Python-level simulations;
:func:`testbench` is the convertible, ROM-driven bench (GHDL); with ``split`` it instantiates
the top as a separate VHDL entity (:func:`dut_instance`), so the top can be converted with
``initial_values`` off and run from reset (:func:`run_split_ghdl`).

Two ways to load a network: through the memory window (:func:`host_setup`), or as the
**initial contents** of the sequencer's image RAMs (``init``, an
:class:`~twinspike.hw.layer_sequencer.ImageInit`: :func:`accelerator_top`, :func:`top`; the
VHDL reads ``twinspike compile``'s ``.mem`` files), so a bitstream comes up with the network
in it and a run needs only the register writes (``host_setup(..., load=False)``). The ports
and registers are the same either way; the window can still overwrite the contents.
"""
from __future__ import annotations

import contextlib
import io
import random
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq,
                   block, concat, instance, intbv, modbv)

from twinspike.hw import toolchain
from twinspike.hw.axi import (DDR_BENCH_BASE, axi_lite_regs, axis_input, axis_output,
                              bench_ddr, bench_harness, bench_ops, core_ports, parse_bench)
from twinspike.hw.common import unsigned_signal
from twinspike.hw.layer_sequencer import (COUNTER_BITS, ERR_PIXELS, IMAGE_MEMORIES, T_BITS,
                                          layer_sequencer, ld_addr_bits, ld_data_bits,
                                          external_words, memory_words, read_result,
                                          word_bits)
from twinspike.hw.toolchain import bench_clock
from twinspike.sw.axi import AxiLiteParams, AxisParams
from twinspike.sw.layer_sequencer import (DDR_BEAT_BITS, AcceleratorParams, Images,
                                          decode_table, run_image)
from twinspike.sw.register_map import (DATA_BITS, ERROR, MEMORIES, REGISTERS, RESP_OKAY,
                                       chunks_per_word, field_value, memory_writes, offset)

__all__ = ["accelerator_top", "ports", "top", "PORT_NAMES", "DDR_BENCH_BASE", "hw_params_word", "host_setup",
           "check_layer_count", "pixel_beats", "parse_results", "Host", "testbench",
           "dut_instance", "parse_lines", "run_bench", "run_split_ghdl"]

Params = AcceleratorParams
if tuple(MEMORIES) != tuple(sorted(IMAGE_MEMORIES, key=IMAGE_MEMORIES.get)):
    raise ImportError("MEM_SELECT codes (sw/register_map.MEMORIES) differ from the sequencer's "
                      "load-port select codes (hw/layer_sequencer.IMAGE_MEMORIES)")

#: The top's ports in order: clock, reset, AXI4-Lite slave, pixel stream, result stream, irq.
AXI_LITE = ("awvalid", "awready", "awaddr", "wvalid", "wready", "wdata", "wstrb", "bvalid",
            "bready", "bresp", "arvalid", "arready", "araddr", "rvalid", "rready", "rdata",
            "rresp")
AXIS = ("tvalid", "tready", "tdata", "tlast")
#: The AXI4 read-only master that fetches DDR weight lines (AR and R channels).
AXI4_READ = ("araddr", "arlen", "arsize", "arburst", "arcache", "arprot", "arvalid", "arready",
             "rdata", "rresp", "rlast", "rvalid", "rready")
#: The ports every top has (this one and ``hw/glm_top.py``): clock, reset, AXI4-Lite slave,
#: input stream, result stream, interrupt; and those of them a top drives.
STREAM_PORT_NAMES = (("aclk", "aresetn") + tuple(f"s_axi_{n}" for n in AXI_LITE)
                     + tuple(f"s_axis_{n}" for n in AXIS) + tuple(f"m_axis_{n}" for n in AXIS)
                     + ("interrupt",))
STREAM_OUTPUTS = ("s_axi_awready", "s_axi_wready", "s_axi_bvalid", "s_axi_bresp",
                  "s_axi_arready", "s_axi_rvalid", "s_axi_rdata", "s_axi_rresp", "s_axis_tready",
                  "m_axis_tvalid", "m_axis_tdata", "m_axis_tlast", "interrupt")
#: This top's ports: those, with the DDR weight master before ``interrupt``.
PORT_NAMES = STREAM_PORT_NAMES[:-1] + tuple(f"m_axi_{n}" for n in AXI4_READ) + ("interrupt",)
OUTPUTS = STREAM_OUTPUTS + ("m_axi_araddr", "m_axi_arlen", "m_axi_arsize", "m_axi_arburst",
                            "m_axi_arcache", "m_axi_arprot", "m_axi_arvalid", "m_axi_rready")
#: AXI4 constants of the weight master: 8-byte beats, INCR bursts, normal non-cacheable
#: bufferable memory (ARCACHE 0b0011, what Xilinx masters use), unprivileged secure data.
AR_SIZE, AR_BURST, AR_CACHE, AR_PROT = 3, 1, 0b0011, 0
RESULT_BITS = 32
ERR_SHORT, ERR_LONG = ERROR["INPUT_SHORT"], ERROR["INPUT_LONG"]


def pixel_stream(p: AcceleratorParams) -> AxisParams:
    return AxisParams(lanes=1, lane_bits=p.input_bits)


def result_stream() -> AxisParams:
    return AxisParams(lanes=1, lane_bits=RESULT_BITS)


def hw_params_word(p: AcceleratorParams) -> int:
    """``HW_PARAMS``' value for ``p``."""
    return field_value("HW_PARAMS", lanes=p.lanes, weight_bits=p.weight_bits,
                       membrane_bits=p.membrane_bits, input_bits=p.input_bits)


def _window_layout(p: AcceleratorParams) -> list[tuple[int, int]]:
    """Per ``MEM_SELECT`` code: ``(log2 of the chunks per word, depth)``."""
    depth = {"table": p.table_depth, "weight": p.weight_depth, "bias": p.bias_depth,
             "geometry": p.geometry_depth}
    return [((chunks_per_word(word_bits(m, p)) - 1).bit_length(), depth[m]) for m in MEMORIES]


@block
def window_chunk(clk, rst, we, j, data, q, index):
    """Chunk register ``index`` of the load word: takes ``data`` on a window write of chunk
    ``index``."""

    @always_seq(clk.posedge, reset=rst)
    def take():
        if we and j == index:
            q.next = data

    return take


@block
def accelerator_top(aclk, aresetn, s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid,
                    s_axi_wready, s_axi_wdata, s_axi_wstrb, s_axi_bvalid, s_axi_bready,
                    s_axi_bresp, s_axi_arvalid, s_axi_arready, s_axi_araddr, s_axi_rvalid,
                    s_axi_rready, s_axi_rdata, s_axi_rresp, s_axis_tvalid, s_axis_tready,
                    s_axis_tdata, s_axis_tlast, m_axis_tvalid, m_axis_tready, m_axis_tdata,
                    m_axis_tlast, m_axi_araddr, m_axi_arlen, m_axi_arsize, m_axi_arburst,
                    m_axi_arcache, m_axi_arprot, m_axi_arvalid, m_axi_arready, m_axi_rdata,
                    m_axi_rresp, m_axi_rlast, m_axi_rvalid, m_axi_rready, interrupt,
                    p: AcceleratorParams = AcceleratorParams(),
                    axi_p: AxiLiteParams = AxiLiteParams(), init=None):
    """The whole accelerator (module docstring)."""
    # init: the initial contents of the sequencer's image RAMs (layer_sequencer.image_init),
    # None for empty RAMs. (The docstring above is copied into the VHDL: it stays as it was.)
    if not isinstance(p, AcceleratorParams):
        raise ValueError(f"accelerator_top expects AcceleratorParams, got {type(p).__name__}")
    clk = aclk
    AB, LDB = ld_addr_bits(p), ld_data_bits(p)
    NCH = -(-LDB // DATA_BITS)
    (lg0, d0), (lg1, d1), (lg2, d2), (lg3, d3) = _window_layout(p)
    m0, m1, m2, m3 = ((1 << lg) - 1 for lg in (lg0, lg1, lg2, lg3))   # chunk-index masks

    # Resets: rst (aresetn) for the register file and the window; core_rst adds the soft
    # reset (run control); the adapters also empty on a start; the sequencer runs only
    # between a start and its IMAGES-th result.
    rst = ResetSignal(0, active=1, isasync=False)
    core_rst = ResetSignal(0, active=1, isasync=False)
    adapt_rst = ResetSignal(0, active=1, isasync=False)
    seq_rst = ResetSignal(0, active=1, isasync=False)

    # The register file.
    axi = SimpleNamespace(**{n: s for n, s in zip(AXI_LITE, (
        s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid, s_axi_wready, s_axi_wdata,
        s_axi_wstrb, s_axi_bvalid, s_axi_bready, s_axi_bresp, s_axi_arvalid, s_axi_arready,
        s_axi_araddr, s_axi_rvalid, s_axi_rready, s_axi_rdata, s_axi_rresp))})
    core = core_ports()
    core.interrupt = interrupt
    core.hw_params = Signal(intbv(hw_params_word(p))[32:])     # constant (undriven)
    regs = axi_lite_regs(clk, rst, axi, core, REGISTERS, axi_p)
    control, status, irq_set = core.control, core.status, core.irq_set
    t_reg, table_base_reg, images_reg = core.t, core.table_base, core.images
    layer_count_reg = core.layer_count
    cycles_lo, cycles_hi, sops_lo, sops_hi = core.cycles_lo, core.cycles_hi, core.sops_lo, core.sops_hi
    error_reg, saturation = core.error, core.saturation
    weight_addr_reg, stalls_lo, stalls_hi = core.weight_addr, core.stalls_lo, core.stalls_hi
    weight_fills = core.weight_fills
    mem_select, mem_addr, mem_data, mem_data_we = (core.mem_select, core.mem_addr, core.mem_data,
                                                   core.mem_data_we)
    start_bit = REGISTERS[1].field("start").lsb
    soft_bit = REGISTERS[1].field("soft_reset").lsb

    # The sequencer.
    ld_we, ld_sel = Signal(bool(0)), unsigned_signal(2)
    ld_addr, ld_data = unsigned_signal(AB), unsigned_signal(LDB)
    px_valid, px_ready, px_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    px_data = unsigned_signal(p.input_bits)
    res_valid, res_ready, res_last = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    res_data = unsigned_signal(RESULT_BITS)
    seq_T, seq_base, seq_layers = unsigned_signal(T_BITS), unsigned_signal(AB), unsigned_signal(16)
    seq_busy, seq_error = Signal(bool(0)), unsigned_signal(4)
    seq_cycles, seq_sops, seq_sat = (unsigned_signal(COUNTER_BITS) for _ in range(3))
    seq_stalls, seq_fills = unsigned_signal(COUNTER_BITS), unsigned_signal(COUNTER_BITS)
    seq_rready = Signal(bool(0))
    seq = layer_sequencer(clk, seq_rst, ld_we, ld_sel, ld_addr, ld_data, px_valid, px_ready,
                          px_data, px_last, res_valid, res_ready, res_data, res_last, seq_T,
                          seq_base, seq_layers, seq_busy, seq_error, seq_cycles, seq_sops,
                          seq_sat, seq_stalls, seq_fills, weight_addr_reg, m_axi_araddr,
                          m_axi_arlen, m_axi_arvalid, m_axi_arready, m_axi_rdata, m_axi_rresp,
                          m_axi_rlast, m_axi_rvalid, seq_rready, p, init)

    # DDR beats still owed: a sequencer reset (soft reset, ERROR 6, end of a failed run) can
    # cut a burst short, and AXI cannot take an AR back; the top takes the beats still owed
    # itself (RREADY) and holds the sequencer in reset until they are in, so a later burst
    # never receives an earlier one's data.
    ddr_owed = unsigned_signal(10)
    ddr_aborted = Signal(bool(0))

    @always_comb
    def ddr_ready():
        m_axi_rready.next = seq_rready or ddr_aborted

    @always_seq(clk.posedge, reset=rst)
    def ddr_account():
        if m_axi_arvalid and m_axi_arready:
            if m_axi_rvalid and m_axi_rready:
                ddr_owed.next = ddr_owed + m_axi_arlen
            else:
                ddr_owed.next = ddr_owed + m_axi_arlen + 1
        elif m_axi_rvalid and m_axi_rready:
            ddr_owed.next = ddr_owed - 1
        if ddr_owed == 0:
            ddr_aborted.next = 0
        elif seq_rst and not ddr_aborted:
            ddr_aborted.next = 1

    # The stream adapters; the pixel stream is open only for the run's images.
    in_open = Signal(bool(0))
    in_valid, in_ready = Signal(bool(0)), Signal(bool(0))
    s_bus = SimpleNamespace(tvalid=in_valid, tready=in_ready, tdata=s_axis_tdata,
                            tlast=s_axis_tlast)
    m_bus = SimpleNamespace(tvalid=m_axis_tvalid, tready=m_axis_tready, tdata=m_axis_tdata,
                            tlast=m_axis_tlast)
    pixels_in = axis_input(clk, adapt_rst, s_bus, px_valid, px_ready, px_data, px_last,
                           pixel_stream(p))
    results_out = axis_output(clk, adapt_rst, res_valid, res_ready, res_data, res_last, m_bus,
                              result_stream())

    # Run control state.
    running, seq_on, done, failed = (Signal(bool(0)) for _ in range(4))
    go, soft = Signal(bool(0)), Signal(bool(0))
    n_images = unsigned_signal(32)
    images_in, images_seq, images_out = (unsigned_signal(32) for _ in range(3))
    last_px_last = Signal(bool(0))
    code = unsigned_signal(8)
    cyc_total, sop_total = Signal(modbv(0)[64:]), Signal(modbv(0)[64:])
    stall_total, fill_total = Signal(modbv(0)[64:]), Signal(modbv(0)[32:])
    sat_total = unsigned_signal(32)
    irq_pulse = Signal(bool(0))
    sat_max = intbv((1 << 32) - 1)[32:]

    @always_comb
    def resets():
        soft.next = control[soft_bit]
        go.next = control[start_bit] and not running
        rst.next = not aresetn
        core_rst.next = not aresetn or control[soft_bit]
        adapt_rst.next = not aresetn or control[soft_bit] or (control[start_bit] and not running)
        seq_rst.next = not aresetn or control[soft_bit] or not seq_on or ddr_aborted

    @always_comb
    def stream_gate():
        in_valid.next = s_axis_tvalid and in_open
        s_axis_tready.next = in_ready and in_open

    @always_comb
    def to_sequencer():
        seq_T.next = t_reg
        seq_base.next = table_base_reg[AB:]
        seq_layers.next = layer_count_reg

    @always_comb
    def to_registers():
        status.next = concat(failed, done, running)     # error, done, busy
        irq_set.next = irq_pulse
        error_reg.next = code
        cycles_lo.next = cyc_total[32:]
        cycles_hi.next = cyc_total[64:32]
        sops_lo.next = sop_total[32:]
        sops_hi.next = sop_total[64:32]
        saturation.next = sat_total
        stalls_lo.next = stall_total[32:]
        stalls_hi.next = stall_total[64:32]
        weight_fills.next = fill_total
        m_axi_arsize.next = AR_SIZE
        m_axi_arburst.next = AR_BURST
        m_axi_arcache.next = AR_CACHE
        m_axi_arprot.next = AR_PROT

    @always_seq(clk.posedge, reset=core_rst)
    def run_control():
        total = intbv(0)[COUNTER_BITS + 2:]
        irq_pulse.next = 0
        if go:
            done.next = 0
            failed.next = 0
            code.next = 0
            n_images.next = images_reg
            images_in.next = 0
            images_seq.next = 0
            images_out.next = 0
            cyc_total.next = 0
            sop_total.next = 0
            sat_total.next = 0
            stall_total.next = 0
            fill_total.next = 0
            last_px_last.next = 0
            if images_reg == 0:
                done.next = 1
                irq_pulse.next = 1
            else:
                running.next = 1
                seq_on.next = 1
                in_open.next = 1
        else:
            if s_axis_tvalid and in_ready and in_open and s_axis_tlast:
                images_in.next = images_in + 1
                if images_in + 1 == n_images:
                    in_open.next = 0
            if px_valid and px_ready:
                last_px_last.next = px_last
            if res_valid and res_ready and res_last and seq_on:
                images_seq.next = images_seq + 1
                if images_seq + 1 == n_images:
                    seq_on.next = 0
                cyc_total.next = cyc_total + seq_cycles
                sop_total.next = sop_total + seq_sops
                stall_total.next = stall_total + seq_stalls
                fill_total.next = fill_total + seq_fills[32:]
                total[:] = sat_total + seq_sat
                if total[COUNTER_BITS + 2:32] != 0:     # above 2**32 - 1 (no 33-bit literal)
                    sat_total.next = sat_max
                else:
                    sat_total.next = total
            if m_axis_tvalid and m_axis_tready and m_axis_tlast and running:
                images_out.next = images_out + 1
                if images_out + 1 == n_images:
                    running.next = 0
                    done.next = 1
                    irq_pulse.next = 1
            if seq_on and seq_error != 0:
                running.next = 0
                seq_on.next = 0
                in_open.next = 0
                done.next = 1
                failed.next = 1
                irq_pulse.next = 1
                if seq_error == ERR_PIXELS:
                    if last_px_last:
                        code.next = ERR_SHORT
                    else:
                        code.next = ERR_LONG
                else:
                    code.next = seq_error

    # The memory window: chunk registers, and a load-port write on a word's last chunk.
    chunks = [unsigned_signal(DATA_BITS) for _ in range(NCH)]
    win_j, win_word = unsigned_signal(8), unsigned_signal(32)
    win_last, win_ok = Signal(bool(0)), Signal(bool(0))
    chunk_we = Signal(bool(0))
    cells = [window_chunk(clk, rst, chunk_we, win_j, mem_data, chunks[k], k) for k in range(NCH)]
    chunk_cat = ConcatSignal(*reversed(chunks)) if NCH > 1 else chunks[0]

    @always_comb
    def window_decode():
        chunk_we.next = mem_data_we and not running
        if mem_select == 0:
            win_j.next = mem_addr & m0
            win_word.next = mem_addr >> lg0
            win_last.next = (mem_addr & m0) == m0
            win_ok.next = (mem_addr >> lg0) < d0
        elif mem_select == 1:
            win_j.next = mem_addr & m1
            win_word.next = mem_addr >> lg1
            win_last.next = (mem_addr & m1) == m1
            win_ok.next = (mem_addr >> lg1) < d1
        elif mem_select == 2:
            win_j.next = mem_addr & m2
            win_word.next = mem_addr >> lg2
            win_last.next = (mem_addr & m2) == m2
            win_ok.next = (mem_addr >> lg2) < d2
        elif mem_select == 3:
            win_j.next = mem_addr & m3
            win_word.next = mem_addr >> lg3
            win_last.next = (mem_addr & m3) == m3
            win_ok.next = (mem_addr >> lg3) < d3
        else:
            win_j.next = 0
            win_word.next = 0
            win_last.next = 0
            win_ok.next = 0

    @always_seq(clk.posedge, reset=rst)
    def window_write():
        if chunk_we and win_last and win_ok:
            ld_we.next = 1
            ld_sel.next = mem_select[2:]
            ld_addr.next = win_word[AB:]
        else:
            ld_we.next = 0

    @always_comb
    def load_word():
        ld_data.next = chunk_cat[LDB:]

    return (regs, seq, ddr_ready, ddr_account, pixels_in, results_out, resets, stream_gate,
            to_sequencer, to_registers, run_control, cells, window_decode, window_write,
            load_word)


def ports(p: AcceleratorParams = AcceleratorParams(),
          axi_p: AxiLiteParams = AxiLiteParams()) -> dict:
    """Fresh signals for every port of :func:`accelerator_top`, by name."""
    a, ps, rs = axi_p.addr_bits, pixel_stream(p), result_stream()
    s = dict(aclk=Signal(bool(0)), aresetn=ResetSignal(1, active=0, isasync=False))
    widths = dict(awaddr=a, araddr=a, wdata=DATA_BITS, wstrb=DATA_BITS // 8, bresp=2,
                  rdata=DATA_BITS, rresp=2)
    for n in AXI_LITE:
        s[f"s_axi_{n}"] = unsigned_signal(widths[n]) if n in widths else Signal(bool(0))
    for prefix, sp in (("s_axis", ps), ("m_axis", rs)):
        s[f"{prefix}_tvalid"], s[f"{prefix}_tready"] = Signal(bool(0)), Signal(bool(0))
        s[f"{prefix}_tdata"], s[f"{prefix}_tlast"] = unsigned_signal(sp.tdata_bits), Signal(bool(0))
    widths = dict(araddr=32, arlen=8, arsize=3, arburst=2, arcache=4, arprot=3,
                  rdata=DDR_BEAT_BITS, rresp=2)
    for n in AXI4_READ:
        s[f"m_axi_{n}"] = unsigned_signal(widths[n]) if n in widths else Signal(bool(0))
    s["interrupt"] = Signal(bool(0))
    assert tuple(s) == PORT_NAMES
    return s


def top(p: AcceleratorParams = AcceleratorParams(), axi_p: AxiLiteParams = AxiLiteParams(),
        init=None):
    """The top on fresh ports, to convert or synthesise (``init``: the image RAMs' initial
    contents, ``hw/layer_sequencer.image_init``)."""
    return accelerator_top(**ports(p, axi_p), p=p, axi_p=axi_p, init=init)


# ----------------------------------------------------------------------------- host side


def check_layer_count(images: Images, layer_count: int) -> None:
    """The host-side ``LAYER_COUNT`` check (the core raises ``ERROR`` 5 for the same
    mismatch): raise ``ValueError`` when ``layer_count`` differs from the table's population
    count."""
    n = decode_table(images.table)[0]["n_populations"]
    if layer_count != n:
        raise ValueError(f"LAYER_COUNT={layer_count}, but the layer table has {n} populations "
                         f"(error {ERROR['LAYER_COUNT']} LAYER_COUNT)")


def host_setup(images: Images | None, T: int, n_images: int, table_base: int = 0,
               irq_enable: bool = True, layer_count: int | None = None,
               weight_addr: int = DDR_BENCH_BASE, load: bool = True) -> list[tuple[int, int]]:
    """The ``(offset, value)`` register writes before a start: ``TABLE_BASE``, ``T``,
    ``IMAGES``, ``WEIGHT_ADDR`` (where the host put :func:`external_words` in DDR),
    ``LAYER_COUNT`` (checked against the table), ``CONTROL.irq_enable`` and every on-chip
    memory image through the window (``images`` None: nothing loaded; ``load`` False: the
    images are already in the RAMs -- the top's initial contents -- and only the registers
    are written). The start itself is ``(offset('CONTROL'), start_word(irq_enable))``."""
    writes = [(offset("TABLE_BASE"), table_base), (offset("T"), T), (offset("IMAGES"), n_images),
              (offset("WEIGHT_ADDR"), weight_addr),
              (offset("CONTROL"), field_value("CONTROL", irq_enable=int(irq_enable)))]
    if images is None:
        return writes
    n_pop = decode_table(images.table)[0]["n_populations"]
    layer_count = n_pop if layer_count is None else layer_count
    check_layer_count(images, layer_count)
    writes.append((offset("LAYER_COUNT"), layer_count))
    if not load:
        return writes
    p = images.params
    for name, words in memory_words(images).items():
        if words:
            writes += memory_writes(name, words, word_bits(name, p), first_word=table_base
                                    if name == "table" else 0)
    return writes


def start_word(irq_enable: bool = True) -> int:
    return field_value("CONTROL", start=1, irq_enable=int(irq_enable))


def pixel_beats(pixels) -> list[tuple[int, int]]:
    """``(TDATA, TLAST)`` per beat for ``pixels[B, n_inputs]``."""
    pixels = np.asarray(pixels, dtype=np.int64).reshape(len(pixels), -1)
    n = pixels.shape[1]
    return [(int(x), int(i % n == n - 1)) for i, x in enumerate(pixels.reshape(-1))]


def parse_results(words: list[tuple[int, int]]) -> list[dict]:
    """``(TDATA, TLAST)`` result beats back into one record per image (``read_result``)."""
    out, current = [], []
    for data, last in words:
        current.append(int(data))
        if last:
            out.append(read_result(current))
            current = []
    if current:
        raise ValueError(f"{len(current)} result words after the last TLAST")
    return out


class Host:
    """A bus-functional model of the PS side for MyHDL simulations (not convertible):
    :meth:`write` / :meth:`read` are AXI4-Lite master generators (AW and W raised after
    independent random delays, B and R accepted after random stalls); :meth:`source_loop` is a
    pixel source that offers :attr:`beats` with random gaps (a beat once
    offered is held until taken) and :meth:`sink_loop` a result sink with random ``TREADY`` stalls that appends
    every accepted beat to :attr:`results`. ``gap`` and ``stall`` are the probabilities of an
    idle cycle; ``max_delay`` bounds the bus delays."""

    def __init__(self, sig: dict, seed: int = 0, gap: float = 0.3, stall: float = 0.3,
                 max_delay: int = 3):
        self.s, self.rng = sig, random.Random(seed)
        self.gap, self.stall, self.max_delay = gap, stall, max_delay
        self.beats: list[tuple[int, int]] = []
        self.results: list[tuple[int, int]] = []
        self.sent = 0
        #: DDR as the weight master sees it: byte address -> 64-bit word (8-byte aligned).
        self.ddr: dict[int, int] = {}
        self.ddr_bursts = 0
        self.ddr_resp = RESP_OKAY             # what the DDR answers (a test sets SLVERR)

    def _d(self) -> int:
        return self.rng.randint(0, self.max_delay)

    def write(self, addr: int, data: int, strb: int = 0xF, expect=RESP_OKAY):
        s, clk = self.s, self.s["aclk"]
        aw_wait, w_wait, b_wait = self._d(), self._d(), self._d()
        aw_done = w_done = False
        s["s_axi_awaddr"].next = addr
        s["s_axi_wdata"].next = data
        s["s_axi_wstrb"].next = strb
        c = 0
        while True:
            s["s_axi_awvalid"].next = not aw_done and c >= aw_wait
            s["s_axi_wvalid"].next = not w_done and c >= w_wait
            s["s_axi_bready"].next = c >= b_wait
            yield clk.posedge
            aw_done = aw_done or bool(s["s_axi_awvalid"] and s["s_axi_awready"])
            w_done = w_done or bool(s["s_axi_wvalid"] and s["s_axi_wready"])
            if s["s_axi_bvalid"] and s["s_axi_bready"]:
                resp = int(s["s_axi_bresp"])
                break
            yield clk.negedge
            c += 1
        yield clk.negedge
        for n in ("awvalid", "wvalid", "bready"):
            s[f"s_axi_{n}"].next = 0
        if expect is not None and resp != expect:
            raise AssertionError(f"write {addr:#x} <- {data:#x}: BRESP {resp}")

    def writes(self, pairs):
        for addr, data in pairs:
            yield from self.write(addr, data)

    def read(self, addr: int, out: list):
        """Read ``addr``; appends ``(rresp, rdata)`` to ``out``."""
        s, clk = self.s, self.s["aclk"]
        ar_wait, r_wait = self._d(), self._d()
        ar_done = False
        s["s_axi_araddr"].next = addr
        c = 0
        while True:
            s["s_axi_arvalid"].next = not ar_done and c >= ar_wait
            s["s_axi_rready"].next = c >= r_wait
            yield clk.posedge
            ar_done = ar_done or bool(s["s_axi_arvalid"] and s["s_axi_arready"])
            if s["s_axi_rvalid"] and s["s_axi_rready"]:
                out.append((int(s["s_axi_rresp"]), int(s["s_axi_rdata"])))
                break
            yield clk.negedge
            c += 1
        yield clk.negedge
        s["s_axi_arvalid"].next = 0
        s["s_axi_rready"].next = 0

    def reg(self, name: str):
        """Generator that reads register ``name``; the value is then in :attr:`value`."""
        got = []
        yield from self.read(offset(name), got)
        assert got[0][0] == RESP_OKAY, f"read {name}: RRESP {got[0][0]}"
        self.value = got[0][1]

    def reset(self, cycles: int = 3):
        clk = self.s["aclk"]
        self.s["aresetn"].next = 0
        for _ in range(cycles):
            yield clk.posedge
        yield clk.negedge
        self.s["aresetn"].next = 1

    def cycles(self, n: int):
        for _ in range(n):
            yield self.s["aclk"].negedge

    def source_loop(self):
        """The pixel source (run it from an ``@instance``)."""
        s, clk = self.s, self.s["aclk"]
        while True:
            yield clk.negedge
            if self.sent < len(self.beats) and (s["s_axis_tvalid"] or
                                                self.rng.random() >= self.gap):
                data, last = self.beats[self.sent]
                s["s_axis_tvalid"].next = 1
                s["s_axis_tdata"].next = data
                s["s_axis_tlast"].next = last
            else:
                s["s_axis_tvalid"].next = 0
            yield clk.posedge
            if s["s_axis_tvalid"] and s["s_axis_tready"]:
                self.sent += 1
                s["s_axis_tvalid"].next = 0   # re-offered (or not) at the negedge

    def put_ddr(self, base: int, words) -> None:
        """Place 64-bit ``words`` in DDR from byte ``base`` (what the driver's buffer holds)."""
        for i, word in enumerate(words):
            self.ddr[base + 8 * i] = int(word)

    def ddr_loop(self):
        """The DDR slave of the weight master (run it from an ``@instance``): random ARREADY
        and first-beat latency, random RVALID gaps, RREADY honoured, RRESP
        :attr:`ddr_resp`; unwritten bytes read 0. Asserts 8-byte INCR bursts inside 4 KB."""
        s, clk = self.s, self.s["aclk"]
        while True:
            yield clk.negedge
            if not s["m_axi_arvalid"]:
                continue
            for _ in range(self._d()):
                yield clk.negedge
            s["m_axi_arready"].next = 1
            yield clk.posedge
            addr, beats = int(s["m_axi_araddr"]), int(s["m_axi_arlen"]) + 1
            assert s["m_axi_arvalid"] and int(s["m_axi_arsize"]) == 3 and int(s["m_axi_arburst"]) == 1
            assert addr % 8 == 0 and addr // 4096 == (addr + 8 * beats - 1) // 4096, \
                f"burst at {addr:#x} x {beats} crosses a 4 KB boundary"
            self.ddr_bursts += 1
            yield clk.negedge
            s["m_axi_arready"].next = 0
            for _ in range(4 * self.max_delay):
                yield clk.negedge
            for k in range(beats):
                while self.rng.random() < self.gap:
                    s["m_axi_rvalid"].next = 0
                    yield clk.negedge
                s["m_axi_rvalid"].next = 1
                s["m_axi_rdata"].next = self.ddr.get(addr + 8 * k, 0)
                s["m_axi_rresp"].next = self.ddr_resp
                s["m_axi_rlast"].next = k == beats - 1
                while True:
                    yield clk.posedge
                    if s["m_axi_rready"]:
                        break
                yield clk.negedge
            s["m_axi_rvalid"].next = 0
            s["m_axi_rlast"].next = 0

    def sink_loop(self):
        """The result sink (run it from an ``@instance``)."""
        s, clk = self.s, self.s["aclk"]
        while True:
            yield clk.negedge
            s["m_axis_tready"].next = self.rng.random() >= self.stall
            yield clk.posedge
            if s["m_axis_tvalid"] and s["m_axis_tready"]:
                self.results.append((int(s["m_axis_tdata"]), int(s["m_axis_tlast"])))


def simulate_host(p: AcceleratorParams, scenario, seed: int = 0, axi_p=AxiLiteParams(),
                  design=None, design_ports=None, init=None, **kw):
    """Run ``scenario(host)`` (a generator function driving :class:`Host`) against a fresh top
    in MyHDL until it returns; returns the host. ``design``/``design_ports``: another top with
    the same ports and its port constructor (``hw/glm_top.py``), default this one; ``init``:
    this top's initial RAM contents (``hw/layer_sequencer.image_init``)."""
    sig = (design_ports or ports)(p, axi_p)
    host = Host(sig, seed=seed, **kw)
    contents = {} if init is None else {"init": init}

    @block
    def harness():
        dut = (design or accelerator_top)(**sig, p=p, axi_p=axi_p, **contents)
        clock = bench_clock(sig["aclk"])

        @instance
        def source():
            yield from host.source_loop()

        @instance
        def sink():
            yield from host.sink_loop()

        ddr = []
        if "m_axi_arvalid" in sig:
            @instance
            def ddr_slave():
                yield from host.ddr_loop()
            ddr = [ddr_slave]

        @instance
        def main():
            yield from host.reset()
            yield from scenario(host)
            raise StopSimulation()

        return dut, clock, source, sink, ddr, main

    toolchain.simulate(harness())
    return host


def wait_end(host: Host, poll: bool = False, limit: int = 2_000_000):
    """Scenario step: wait until the run ends -- the interrupt line, or (``poll``) reading
    ``STATUS`` until ``done``."""
    s = host.s
    if poll:
        while True:
            yield from host.reg("STATUS")
            if host.value & 0b010:
                return
    n = 0
    while not s["interrupt"]:
        yield s["aclk"].negedge
        n += 1
        if n > limit:
            raise AssertionError("no interrupt")


#: What :func:`read_regs` reads.
STATUS_READS = ("STATUS", "IRQ", "ERROR", "CYCLES_LO", "CYCLES_HI", "SOPS_LO", "SOPS_HI",
                "SATURATION", "VERSION", "HW_PARAMS", "T", "IMAGES", "LAYER_COUNT", "TABLE_BASE",
                "STALLS_LO", "STALLS_HI", "WEIGHT_FILLS", "WEIGHT_ADDR")


def read_regs(host: Host):
    """Scenario step: read :data:`STATUS_READS` into ``host.regs`` (plus the 64-bit
    ``CYCLES`` and ``SOPS``)."""
    host.regs = {}
    for name in STATUS_READS:
        yield from host.reg(name)
        host.regs[name] = host.value
    host.regs["CYCLES"] = host.regs["CYCLES_HI"] << 32 | host.regs["CYCLES_LO"]
    host.regs["SOPS"] = host.regs["SOPS_HI"] << 32 | host.regs["SOPS_LO"]
    host.regs["STALLS"] = host.regs["STALLS_HI"] << 32 | host.regs["STALLS_LO"]


def run_batch(host: Host, images: Images | None, pixels, T: int, irq: bool = True,
              poll: bool = False, table_base: int = 0, n_images: int | None = None,
              load: bool = True):
    """Scenario step: configure and load (:func:`host_setup`), queue ``pixel_beats(pixels)``,
    start, wait for the end (:func:`wait_end`), read the registers (:func:`read_regs`) and
    clear ``IRQ``. ``n_images``: ``IMAGES`` (default: the batch size); ``load`` False: the
    on-chip images are the top's initial contents, only the registers are written."""
    n = len(pixels) if n_images is None else n_images
    if images is not None:
        host.put_ddr(DDR_BENCH_BASE, external_words(images))
    yield from host.writes(host_setup(images, T, n, table_base, irq_enable=irq, load=load))
    if len(pixels):
        host.beats += pixel_beats(pixels)
    yield from host.write(offset("CONTROL"), start_word(irq))
    yield from wait_end(host, poll)
    yield from read_regs(host)
    yield from host.write(offset("IRQ"), 1)


# ----------------------------------------------------------------------------- convertible bench



def bench_program(images: Images, T: int, n_images: int,
                  load: bool = True) -> list[tuple[int, int, int]]:
    """``(op, addr, data)``: configure and load (``load`` False: configure only), start, wait
    for the interrupt, read :data:`~twinspike.hw.axi.BENCH_READS`, clear ``IRQ`` and read it
    again."""
    return bench_ops(host_setup(images, T, n_images, load=load), start_word(True))




@block
def dut_instance(aclk, aresetn, s_axi_awvalid, s_axi_awready, s_axi_awaddr, s_axi_wvalid,
                 s_axi_wready, s_axi_wdata, s_axi_wstrb, s_axi_bvalid, s_axi_bready, s_axi_bresp,
                 s_axi_arvalid, s_axi_arready, s_axi_araddr, s_axi_rvalid, s_axi_rready,
                 s_axi_rdata, s_axi_rresp, s_axis_tvalid, s_axis_tready, s_axis_tdata,
                 s_axis_tlast, m_axis_tvalid, m_axis_tready, m_axis_tdata, m_axis_tlast,
                 m_axi_araddr, m_axi_arlen, m_axi_arsize, m_axi_arburst, m_axi_arcache,
                 m_axi_arprot, m_axi_arvalid, m_axi_arready, m_axi_rdata, m_axi_rresp,
                 m_axi_rlast, m_axi_rvalid, m_axi_rready, interrupt, p, axi_p, init=None):
    """:func:`accelerator_top` in MyHDL; in VHDL an instance of the separately converted
    entity ``accelerator_top`` (user-defined code), so that entity can be converted with
    ``initial_values`` off (``init``: both with these initial RAM contents)."""
    dut = accelerator_top(aclk, aresetn, s_axi_awvalid, s_axi_awready, s_axi_awaddr,
                          s_axi_wvalid, s_axi_wready, s_axi_wdata, s_axi_wstrb, s_axi_bvalid,
                          s_axi_bready, s_axi_bresp, s_axi_arvalid, s_axi_arready, s_axi_araddr,
                          s_axi_rvalid, s_axi_rready, s_axi_rdata, s_axi_rresp, s_axis_tvalid,
                          s_axis_tready, s_axis_tdata, s_axis_tlast, m_axis_tvalid,
                          m_axis_tready, m_axis_tdata, m_axis_tlast, m_axi_araddr, m_axi_arlen,
                          m_axi_arsize, m_axi_arburst, m_axi_arcache, m_axi_arprot,
                          m_axi_arvalid, m_axi_arready, m_axi_rdata, m_axi_rresp, m_axi_rlast,
                          m_axi_rvalid, m_axi_rready, interrupt, p, axi_p, init)
    for name in OUTPUTS:
        locals()[name].driven = "wire"
    return dut


dut_instance.vhdl_code = ("u_top: entity work.accelerator_top port map (\n"
                          + ",\n".join(f"    {n} => ${n}" for n in PORT_NAMES) + "\n);\n")


@block
def testbench(images: Images, pixels, T: int, split: bool = False,
              axi_p: AxiLiteParams = AxiLiteParams(), init=None):
    """Self-checking, convertible bench of the whole top: a ROM-driven AXI4-Lite master plays
    :func:`bench_program` (AW and W together, B accepted at once; a write answered other than
    OKAY prints ``b addr resp``), a pixel source streams ``pixels`` with the gaps of
    :data:`~twinspike.hw.axi.SOURCE_PATTERN`, a sink takes result words with the stalls of
    :data:`~twinspike.hw.axi.SINK_PATTERN` and prints ``r word last`` per word; after the interrupt (or ``t
    cycles`` when none came within ``wait_limit`` cycles) the master prints ``R offset value``
    for each read. ``split``: the top is the separate entity of
    :func:`dut_instance` (for :func:`run_split_ghdl`). ``init``: the top starts with these
    RAM contents (``image_init`` of ``images``) and the program writes only the registers."""
    p = images.params
    if init is not None and init.params != p:
        raise ValueError("testbench: init was compiled for other AcceleratorParams than images")
    pixels = np.asarray(pixels, dtype=np.int64).reshape(len(pixels), -1)
    s = ports(p, axi_p)
    s["aresetn"] = ResetSignal(0, active=0, isasync=False)     # in reset from time 0
    dut = (dut_instance if split else accelerator_top)(**s, p=p, axi_p=axi_p, init=init)
    ops = bench_program(images, T, len(pixels), load=init is None)
    beats = pixel_beats(pixels)
    # Cycles to wait for the interrupt: twice what the cycle model, the DDR line fills and the
    # streams need.
    runs = [run_image(images, x, T) for x in pixels]
    model = sum(r[5] for r in runs) + sum(r[6] for r in runs) * (3 * p.line_words + 40)
    wait_limit = 2 * (model + 4 * len(beats) + 64 * len(pixels)) + 10_000
    harness = bench_harness(s, ops, beats, wait_limit, axi_p)
    ddr = bench_ddr(s["aclk"], s["aresetn"], s["m_axi_araddr"], s["m_axi_arlen"],
                    s["m_axi_arvalid"], s["m_axi_arready"], s["m_axi_rdata"], s["m_axi_rresp"],
                    s["m_axi_rvalid"], s["m_axi_rlast"], s["m_axi_rready"],
                    external_words(images) or [0], DDR_BENCH_BASE)
    return dut, harness, ddr


def parse_lines(lines: list[str]) -> dict:
    """The bench's lines: ``records`` (per image), ``regs`` (name -> value, the reads in
    :data:`~twinspike.hw.axi.BENCH_READS` order, then ``IRQ_AFTER``, ``STATUS_AFTER``) and ``bus_errors``."""
    words, regs, errors = parse_bench(lines)
    return dict(records=parse_results(words), regs=regs, bus_errors=errors)


def run_bench(images: Images, pixels, T: int) -> dict:
    """Simulate :func:`testbench` in MyHDL and parse its lines."""
    return parse_lines(toolchain.run_myhdl(testbench(images, pixels, T)))


def run_split_ghdl(images: Images, pixels, T: int, workdir,
                   init=None) -> tuple[list[str], list[str]]:
    """The initial-values check: convert the top alone with ``initial_values`` off
, the bench (:func:`testbench` with ``split``) with them on, run
    the bench in GHDL from reset and in MyHDL; returns ``(myhdl_lines, ghdl_lines)`` (before
    ``done``). The top's signals start as ``'U'`` in GHDL, so any register that ``aresetn``
    does not reset and that reaches an output shows up as a difference. ``init``: the top is
    converted with these initial RAM contents (its VHDL reads their ``.mem`` files: give
    absolute paths) and the bench writes only the registers."""
    toolchain.require("ghdl")
    work = Path(workdir)
    tb = testbench(images, pixels, T, split=True, init=init)
    (work / "tb").mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stderr(io.StringIO()):
        tb.convert(hdl="VHDL", path=str(work / "tb"), name="top_tb", initial_values=True)
    # MyHDL keeps conversion options on its converter object between calls (a conversion
    # after verify_vhdl inherits initial_values=True): say False explicitly, and last, so the
    # process is left with MyHDL's default.
    (work / "dut").mkdir(parents=True, exist_ok=True)
    top(images.params, init=init).convert(hdl="VHDL", path=str(work / "dut"),
                                          name="accelerator_top", initial_values=False)
    dut_files = [work / "dut" / toolchain.PCK_NAME, work / "dut" / "accelerator_top.vhd"]
    toolchain.ghdl_elaborate([*dut_files, work / "tb" / "top_tb.vhd"], "top_tb", work / "ghdl")
    proc = subprocess.run(["ghdl", "-r", "--std=08", "top_tb", "--ieee-asserts=disable"],
                          cwd=work / "ghdl", capture_output=True, text=True, timeout=600)
    lines = []
    for line in proc.stdout.splitlines():
        if "End of Simulation" in line:      # the converted StopSimulation
            break
        if line.strip():
            lines.append(line)
    ghdl_lines = toolchain.strip_done(lines, "GHDL")
    mine = toolchain.run_myhdl(testbench(images, pixels, T, split=True, init=init))
    return mine, ghdl_lines
