"""MyHDL twin of the layer sequencer (what it computes, the memories and the layer table:
``sw/layer_sequencer.py``): one reconfigurable engine of P lanes that runs any compiled
network from its memory images, timestep by timestep.

Ports (all synchronous to ``clk``; ``rst`` synchronous, active high; it clears the control
state, not the memories):

* **load** (before a run): ``ld_we`` writes ``ld_data`` at ``ld_addr`` of memory ``ld_sel``
  (:data:`MEM_TABLE`, :data:`MEM_WEIGHT`, :data:`MEM_BIAS`, :data:`MEM_GEOMETRY`), one word per
  cycle, words as ``twinspike compile`` writes them.
* **pixels** (valid/ready): ``px_data`` (``input_bits``), ``px_last`` on an image's last pixel,
  canonical order. The sequencer reads the table header, takes exactly ``input_size`` pixels
  and runs the image.
* **result** (valid/ready): ``1 + n_outputs`` words of 32 bits: ``first_spike_step << 16 |
  class``, then the spike count of each output neuron; ``res_last`` on the final word.
* ``T`` (timesteps, at least 1) is read when an image starts. Status: ``busy``; ``error``
  (:data:`ERR_MAGIC` a table without the magic word, :data:`ERR_T` ``T = 0``,
  :data:`ERR_PIXELS` an image whose ``px_last`` came early or late, :data:`ERR_LAYERS` a table
  whose population count is not ``layer_count``, the host's statement of what it loaded;
  sticky until reset);
  ``cycles`` (clock edges from the edge taking the last pixel to the end of the last fire
  scan: ``sw/layer_sequencer`` ``RECORD_CYCLES``), ``sops`` (synaptic operations: per
  accumulated word, its lanes that hold a neuron) and ``saturations`` (lane additions that
  clamped at the membrane bounds) of the last image. ``table_base`` offsets every table read
  (several compiled networks can share the table memory).
* **DDR weights** (``external_weight_depth > 0``): weight words at addresses from
  ``weight_depth`` on come from DDR at byte ``weight_addr + (a - weight_depth) * 8`` through a
  direct-mapped cache of ``cache_lines`` lines of ``line_words`` words and an AXI4 read
  master (``m_ar*``: one INCR burst of ``line_words`` 64-bit beats per line; ``m_r*``).
  While a line is on its way the whole sequencer stalls; ``stalls`` counts those cycles (they
  are part of ``cycles``) and ``fills`` the lines fetched (``sw/layer_sequencer.WeightCache``
  predicts them). A beat answered other than OKAY, or an RLAST out of place, stops the image
  with :data:`ERR_DDR`. The cache empties when an image starts (the host may have rewritten
  the buffer). A reset during a burst leaves its remaining beats on the bus (AXI has no
  abort): ``hw/top.py`` takes them and holds this core in reset until they are in.
* **initial contents** (``init``, an :class:`ImageInit` from :func:`image_init`): the table,
  weight (on-chip part), bias and geometry RAMs start with a compiled network's words, so the
  load port is not needed (a bitstream comes up with the network in it); the converted VHDL
  reads them from ``twinspike compile``'s ``.mem`` files (``hw/common.ram``). Without ``init``
  the RAMs start empty, as before. The load port works either way.

Structure: one finite state machine. Records of the layer table are read field by field into
registers. Per timestep and population, each projection scans its source (the input memory,
one pixel per two cycles, or the source's spike bitmap, one word per two cycles and one bit
per cycle within a non-zero word) and, per event, walks the touched state words (geometry
memory offsets plus the projection's steps) through a two-stage pipeline: read the state and
weight words, then P lanes compute ``sat(v + w * value)`` against the run-time bounds and write
the word back. The fire scan visits the population channel by channel, position by position,
fires one lane per cycle (leak, saturating bias, compare, subtract) and packs the spikes into
bitmap rows. A one-deep forward register covers a read of the word written on the same edge.
The cycle count this gives is ``sw/layer_sequencer.cycles``.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always_comb, always_seq,
                   block, concat, enum, instance, intbv, modbv)

from twinspike.hw import toolchain
from twinspike.hw.axi import DDR_BENCH_BASE, bench_ddr
from twinspike.hw.common import (RamInit, address_bits, index_signal, pack_lanes, ram,
                                 rom_driver, signed_signal, unsigned_signal)
from twinspike.hw.toolchain import bench_clock
from twinspike.sw.layer_sequencer import (DDR_BEAT_BITS, GEOMETRY_FIELD_BITS, HEADER_FIELDS, HEADER_WORDS,
                                          INPUT_SOURCE, KIND_CODES, MAGIC, POPULATION_FIELDS,
                                          PROJECTION_FIELDS, AcceleratorParams, Images,
                                          decode_table)

Params = AcceleratorParams
MEM_TABLE, MEM_WEIGHT, MEM_BIAS, MEM_GEOMETRY = range(4)
ERR_MAGIC, ERR_T, ERR_PIXELS, ERR_LAYERS, ERR_DDR = 1, 2, 3, 5, 6
FIELD_BITS = 32
COUNTER_BITS = 48
T_BITS = 16
H = {name: i for i, name in enumerate(HEADER_FIELDS)}
PF = {name: i for i, name in enumerate(POPULATION_FIELDS)}
JF = {name: i for i, name in enumerate(PROJECTION_FIELDS)}
POP_WORDS, PROJ_WORDS = len(POPULATION_FIELDS), len(PROJECTION_FIELDS)
#: Field counter value at which a record field's word is on the table RAM's output
#: (its index + 1: the RAM reads one cycle late); generators need plain ints.
HDR_INPUT_HEIGHT = H["input_height"] + 1
HDR_INPUT_SIZE = H["input_size"] + 1
HDR_INPUT_WIDTH = H["input_width"] + 1
HDR_MAGIC = H["magic"] + 1
HDR_MEMBRANE_MAX = H["membrane_max"] + 1
HDR_MEMBRANE_MIN = H["membrane_min"] + 1
HDR_N_OUTPUTS = H["n_outputs"] + 1
HDR_N_POPULATIONS = H["n_populations"] + 1
HDR_OUTPUT_POPULATION = H["output_population"] + 1
HDR_PROJECTION_TABLE = H["projection_table"] + 1
HDR_ENCODING = H["encoding"] + 1
HDR_LFSR_SHIFT = H["lfsr_shift"] + 1
HDR_LFSR_MASK = H["lfsr_mask"] + 1
HDR_SEED_BASE = H["seed_base"] + 1
HDR_INPUT_SPIKE_BASE = H["input_spike_base"] + 1
HDR_INPUT_ROW_BITS = H["input_row_bits"] + 1
POP_BIAS_BASE = PF["bias_base"] + 1
POP_BIAS_MODE = PF["bias_mode"] + 1
POP_CHANNELS = PF["channels"] + 1
POP_CWORDS = PF["cwords"] + 1
POP_LAST_LANES = PF["last_lanes"] + 1
POP_LEAK_SHIFT = PF["leak_shift"] + 1
POP_POSITIONS = PF["positions"] + 1
POP_PROJECTION_COUNT = PF["projection_count"] + 1
POP_ROW_BITS = PF["row_bits"] + 1
POP_SPIKE_BASE = PF["spike_base"] + 1
POP_STATE_BASE = PF["state_base"] + 1
POP_STATE_WORDS = PF["state_words"] + 1
POP_THETA = PF["theta"] + 1
POP_V0 = PF["v0"] + 1
PRJ_GEO_X_BASE = JF["geo_x_base"] + 1
PRJ_GEO_Y_BASE = JF["geo_y_base"] + 1
PRJ_KIND = JF["kind"] + 1
PRJ_SOURCE = JF["source"] + 1
PRJ_SOURCE_HEIGHT = JF["source_height"] + 1
PRJ_SOURCE_ROWS = JF["source_rows"] + 1
PRJ_SOURCE_ROW_BITS = JF["source_row_bits"] + 1
PRJ_SOURCE_SPIKE_BASE = JF["source_spike_base"] + 1
PRJ_SOURCE_WIDTH = JF["source_width"] + 1
PRJ_STATE_ROW_STEP = JF["state_row_step"] + 1
PRJ_WEIGHT_BASE = JF["weight_base"] + 1
PRJ_WEIGHT_CHANNEL_STEP = JF["weight_channel_step"] + 1
PRJ_WEIGHT_COL_STEP = JF["weight_col_step"] + 1
PRJ_WEIGHT_ROW_STEP = JF["weight_row_step"] + 1
PRJ_WEIGHT_WORD_STEP = JF["weight_word_step"] + 1
KIND_DENSE = KIND_CODES["dense"]
KIND_CONV = KIND_CODES["conv"]


def ld_data_bits(p: AcceleratorParams) -> int:
    """Width of the load port: the widest memory word."""
    return max(32, p.lanes * p.weight_bits, p.lanes * p.membrane_bits, 3 * GEOMETRY_FIELD_BITS)


def ld_addr_bits(p: AcceleratorParams) -> int:
    return address_bits(max(p.table_depth, p.weight_depth, p.bias_depth, p.geometry_depth))


@block
def seq_lane(mode, lanes_on, lane_sel, one_lane, weight_bits, value, v_bits, bias_bits, theta,
             leak, lo, hi, v_out_bits, spike, clamped, index, w, m, value_bits):
    """Lane ``index``, combinational. ``mode`` 1: accumulate ``v + weight * value`` (weight 1
    when ``one_lane``: the diagonal kinds); ``mode`` 2: fire (leak, saturating bias, ``>=
    theta`` subtracts). The lane takes part if ``one_lane`` or ``mode`` 2 and ``lane_sel`` is
    its index, or else if its index is below ``lanes_on``; otherwise it holds. Saturation is
    at the run-time bounds ``lo..hi`` (the network's membrane width); ``clamped`` says an add
    saturated."""
    top = (1 << value_bits) - 1
    prod_lo, prod_hi = -(1 << (w - 1)) * top, ((1 << (w - 1)) - 1) * top
    sum_lo = -(1 << (m - 1)) + min(prod_lo, -(1 << (m - 1)))
    sum_hi = (1 << (m - 1)) - 1 + max(prod_hi, (1 << (m - 1)) - 1)

    @always_comb
    def datapath():
        v = intbv(0, min=-(1 << (m - 1)), max=1 << (m - 1))
        total = intbv(0, min=sum_lo, max=sum_hi + 1)
        result = intbv(0, min=-(1 << (m - 1)), max=1 << (m - 1))
        active = bool(0)
        v[:] = v_bits.signed()
        if one_lane or mode == 2:
            active = lane_sel == index
        else:
            active = index < lanes_on
        spike.next = 0
        clamped.next = 0
        if mode == 1 and active:
            if one_lane:
                total[:] = v + value
            else:
                total[:] = v + weight_bits.signed() * value
            if total > hi:
                result[:] = hi
                clamped.next = 1
            elif total < lo:
                result[:] = lo
                clamped.next = 1
            else:
                result[:] = total
        elif mode == 2 and active:
            if leak != 0:
                total[:] = v - (v >> leak) + bias_bits.signed()
            else:
                total[:] = v + bias_bits.signed()
            if total > hi:
                total[:] = hi
                clamped.next = 1
            elif total < lo:
                total[:] = lo
                clamped.next = 1
            if total >= theta:
                result[:] = total - theta
                spike.next = 1
            else:
                result[:] = total
        else:
            result[:] = v
        v_out_bits.next = result[m:]

    return datapath


@block
def layer_sequencer(clk, rst, ld_we, ld_sel, ld_addr, ld_data, px_valid, px_ready, px_data,
                    px_last, res_valid, res_ready, res_data, res_last, T, table_base,
                    layer_count, busy, error, cycles, sops, saturations, stalls, fills,
                    weight_addr, m_araddr, m_arlen, m_arvalid, m_arready, m_rdata, m_rresp,
                    m_rlast, m_rvalid, m_rready, p: AcceleratorParams,
                    init: "ImageInit | None" = None):
    if not isinstance(p, AcceleratorParams):
        raise ValueError(f"layer_sequencer expects AcceleratorParams, got {type(p).__name__}")
    if init is not None and init.params != p:
        raise ValueError("layer_sequencer: init was compiled for other AcceleratorParams than p")
    contents = {} if init is None else init.rams
    P, w, m, ib, sw = p.lanes, p.weight_bits, p.membrane_bits, p.input_bits, p.spike_word_bits
    G = GEOMETRY_FIELD_BITS
    A = max(address_bits(d) for d in (p.weight_space, p.state_depth, p.bias_depth,
                                      p.geometry_depth, p.spike_depth, p.input_depth,
                                      p.table_depth)) + 1
    EXT = p.external_weight_depth > 0
    WD, WB = p.weight_depth, address_bits(p.weight_depth)
    LB = address_bits(P) + 1

    # Memories: read addresses and registered outputs (write ports below).
    tb_ra, wt_ra, bi_ra, ge_ra, st_ra, sp_ra, in_ra = (unsigned_signal(A) for _ in range(7))
    tb_q, wt_q, bi_q = unsigned_signal(32), unsigned_signal(P * w), unsigned_signal(P * m)
    ge_q, st_q = unsigned_signal(3 * G), unsigned_signal(P * m)
    sp_q, in_q = unsigned_signal(sw), unsigned_signal(ib)
    tb_we, wt_we, bi_we, ge_we = (Signal(bool(0)) for _ in range(4))
    st_we, sp_we, in_we = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    st_wa, sp_wa, in_wa = unsigned_signal(A), unsigned_signal(A), unsigned_signal(A)
    st_wd, sp_wd, in_wd = unsigned_signal(P * m), unsigned_signal(sw), unsigned_signal(ib)
    ld_a = unsigned_signal(A)
    tb_wd, wt_wd, bi_wd, ge_wd = (unsigned_signal(n) for n in (32, P * w, P * m, 3 * G))
    tb_raddr = unsigned_signal(A)                      # tb_ra is relative to table_base
    # Rate input: one LFSR state per pixel (32 bits), stepped once per timestep.
    lf_ra, lf_wa, lf_q, lf_wd = unsigned_signal(A), unsigned_signal(A), unsigned_signal(32), \
        unsigned_signal(32)
    lf_we = Signal(bool(0))
    a_mask = (1 << A) - 1

    @always_comb
    def table_offset():
        tb_raddr.next = (tb_ra + table_base) & a_mask

    # A weight address at or above WD lies in DDR (the cache below); the on-chip RAM sees
    # its low bits (WD is a power of two when external weights are on).
    wt_ra_chip = unsigned_signal(WB)
    stall, run_en = Signal(bool(0)), Signal(bool(1))

    @always_comb
    def weight_chip_address():
        wt_ra_chip.next = wt_ra[WB:]
        run_en.next = not stall

    # The state RAM holds its output while the sequencer stalls on a DDR line.
    # With init, the four image RAMs start with the compiled words.
    memories = [ram(clk, tb_we, ld_a, tb_wd, tb_raddr, tb_q, p.table_depth,
                    init=contents.get("table")),
                ram(clk, wt_we, ld_a, wt_wd, wt_ra_chip, wt_q, p.weight_depth,
                    init=contents.get("weight")),
                ram(clk, bi_we, ld_a, bi_wd, bi_ra, bi_q, p.bias_depth,
                    init=contents.get("bias")),
                ram(clk, ge_we, ld_a, ge_wd, ge_ra, ge_q, p.geometry_depth,
                    init=contents.get("geometry")),
                ram(clk, st_we, st_wa, st_wd, st_ra, st_q, p.state_depth, run_en),
                ram(clk, sp_we, sp_wa, sp_wd, sp_ra, sp_q, p.spike_depth),
                ram(clk, in_we, in_wa, in_wd, in_ra, in_q, p.input_depth),
                ram(clk, lf_we, lf_wa, lf_wd, lf_ra, lf_q, p.input_depth)]

    @always_comb
    def load_port():
        tb_we.next = ld_we and ld_sel == MEM_TABLE
        wt_we.next = ld_we and ld_sel == MEM_WEIGHT
        bi_we.next = ld_we and ld_sel == MEM_BIAS
        ge_we.next = ld_we and ld_sel == MEM_GEOMETRY
        ld_a.next = ld_addr
        tb_wd.next = ld_data[32:]
        wt_wd.next = ld_data[P * w:]
        bi_wd.next = ld_data[P * m:]
        ge_wd.next = ld_data[3 * G:]

    # The pipeline: s0 = the word's read addresses are on the RAMs, s1 = its words have come.
    s0_valid, s1_valid = Signal(bool(0)), Signal(bool(0))
    s0_addr, s1_addr = unsigned_signal(A), unsigned_signal(A)
    s0_mode, s1_mode = unsigned_signal(2), unsigned_signal(2)
    s0_lanes, s1_lanes = unsigned_signal(LB), unsigned_signal(LB)
    s0_lane, s1_lane = unsigned_signal(LB), unsigned_signal(LB)
    s0_diag, s1_diag = Signal(bool(0)), Signal(bool(0))
    s0_last, s1_last = Signal(bool(0)), Signal(bool(0))
    s0_fidx, s1_fidx = unsigned_signal(A), unsigned_signal(A)
    s1_ext, s1_wa = Signal(bool(0)), unsigned_signal(A)       # s1 reads a DDR weight word
    wt_word = unsigned_signal(P * w)                          # s1's weight word

    # Lanes: one datapath each, on the s1 words (the state word forwarded if needed).
    mode = unsigned_signal(2)
    v_in = unsigned_signal(P * m)
    value = unsigned_signal(ib)
    theta, lo, hi = signed_signal(m + 1), signed_signal(m + 1), signed_signal(m + 1)
    leak = unsigned_signal(5)
    v_out_bits = [unsigned_signal(m) for _ in range(P)]
    spikes = [unsigned_signal(1) for _ in range(P)]
    clamps = [unsigned_signal(1) for _ in range(P)]
    lanes = [seq_lane(mode, s1_lanes, s1_lane, s1_diag, wt_word((i + 1) * w, i * w), value,
                      v_in((i + 1) * m, i * m), bi_q((i + 1) * m, i * m), theta, leak, lo, hi,
                      v_out_bits[i], spikes[i], clamps[i], i, w, m, ib) for i in range(P)]
    clamp_word = ConcatSignal(*reversed(clamps)) if P > 1 else clamps[0]
    n_clamped, clamped_r = unsigned_signal(LB), unsigned_signal(LB)

    @always_comb
    def count_clamps():
        n = intbv(0, min=0, max=P + 1)
        n[:] = 0
        for i in range(P):
            if clamp_word[i]:
                n[:] = n + 1
        n_clamped.next = n
    v_word = ConcatSignal(*reversed(v_out_bits)) if P > 1 else v_out_bits[0]
    spike_word = ConcatSignal(*reversed(spikes)) if P > 1 else spikes[0]

    # The state write port: the s1 word (accumulate, fire), else a clear write.
    clr_we, clr_addr, clr_data = Signal(bool(0)), unsigned_signal(A), unsigned_signal(P * m)

    @always_comb
    def state_write():
        if s1_valid:
            st_we.next = not stall
            st_wa.next = s1_addr
            st_wd.next = v_word
        else:
            st_we.next = clr_we
            st_wa.next = clr_addr
            st_wd.next = clr_data

    # Forwarding: s1 reads a word written on the edge that also read it.
    fw_valid, fw_addr, fw_data = Signal(bool(0)), unsigned_signal(A), unsigned_signal(P * m)

    @always_comb
    def forward():
        if fw_valid and fw_addr == s1_addr:
            v_in.next = fw_data
        else:
            v_in.next = st_q

    # The DDR weight cache (external_weight_depth > 0): direct-mapped, cache_lines lines of
    # line_words words (sw/layer_sequencer.WeightCache says which reads fill). The data and
    # tag RAMs are read beside the on-chip weight RAM (s0's address, or s1's while stalled),
    # so s1 finds its word and its line's tag; a miss stalls the whole sequencer (control
    # frozen, state RAM output held, no state write) while an AXI4 INCR burst of line_words
    # 64-bit beats fills the line. Only *when* things happen changes, never what.
    flush = Signal(bool(0))                                   # an image starts: empty
    ddr_fault = Signal(bool(0))                               # a burst went wrong: ERR_DDR
    if EXT:
        L, N = p.line_words, p.cache_lines
        LL, NL = address_bits(L), address_bits(N * L)
        TB = A - NL
        WD_LINES = WD >> LL                                   # lines below DDR
        c_ra, c_wa = unsigned_signal(NL), unsigned_signal(NL)
        c_q, c_wd = unsigned_signal(P * w), unsigned_signal(P * w)
        c_we, tag_we = Signal(bool(0)), Signal(bool(0))
        tag_ra, tag_wa = unsigned_signal(NL - LL), unsigned_signal(NL - LL)
        tag_q, tag_wd = unsigned_signal(TB), unsigned_signal(TB)
        valid_bits, valid_q = Signal(intbv(0)[N:]), Signal(bool(0))
        fst = enum("F_IDLE", "F_AR", "F_DATA", "F_SETTLE", "F_FAULT")
        fs = Signal(fst.F_IDLE)
        f_beat = Signal(modbv(0)[LL:])
        f_slot, f_tag = unsigned_signal(NL - LL), unsigned_signal(TB)
        n_fill = unsigned_signal(COUNTER_BITS)
        cache_rams = [ram(clk, c_we, c_wa, c_wd, c_ra, c_q, N * L),
                      ram(clk, tag_we, tag_wa, tag_wd, tag_ra, tag_q, N)]

        @always_comb
        def cache_lookup():
            if stall:
                c_ra.next = s1_wa[NL:]
                tag_ra.next = s1_wa[NL:LL]
            else:
                c_ra.next = wt_ra[NL:]
                tag_ra.next = wt_ra[NL:LL]

        @always_comb
        def cache_stall():
            stall.next = s1_valid and s1_ext and not (valid_q and tag_q == s1_wa[A:NL])

        @always_comb
        def cache_word():
            if s1_ext:
                wt_word.next = c_q
            else:
                wt_word.next = wt_q

        @always_comb
        def cache_fill_ports():
            c_we.next = fs == fst.F_DATA and m_rvalid and m_rresp == 0
            c_wa.next = concat(f_slot, f_beat)
            c_wd.next = m_rdata[P * w:]
            tag_we.next = fs == fst.F_DATA and m_rvalid and f_beat == L - 1
            tag_wa.next = f_slot
            tag_wd.next = f_tag
            m_rready.next = fs == fst.F_DATA
            m_arlen.next = L - 1
            fills.next = n_fill

        @always_seq(clk.posedge, reset=rst)
        def cache_fill():
            line = intbv(0)[A:]
            valid_q.next = valid_bits[tag_ra]
            if flush:
                valid_bits.next = 0
                n_fill.next = 0
            if fs == fst.F_IDLE:
                if stall:                               # s1's line: byte offset in DDR
                    line[:] = s1_wa[A:LL] - WD_LINES
                    m_araddr.next = weight_addr + (line << (LL + 3))
                    m_arvalid.next = 1
                    f_slot.next = s1_wa[NL:LL]
                    f_tag.next = s1_wa[A:NL]
                    f_beat.next = 0
                    fs.next = fst.F_AR
            elif fs == fst.F_AR:
                if m_arready:
                    m_arvalid.next = 0
                    fs.next = fst.F_DATA
            elif fs == fst.F_DATA:
                if m_rvalid and (m_rresp != 0 or m_rlast != (f_beat == L - 1)):
                    fs.next = fst.F_FAULT               # SLVERR/DECERR, or RLAST misplaced
                elif m_rvalid:
                    f_beat.next = f_beat + 1
                    if f_beat == L - 1:
                        valid_bits.next[f_slot] = 1
                        n_fill.next = n_fill + 1
                        fs.next = fst.F_SETTLE
            elif fs == fst.F_SETTLE:                    # the tag RAM re-reads the line
                fs.next = fst.F_IDLE

        @always_comb
        def cache_fault():
            ddr_fault.next = fs == fst.F_FAULT

        cache = [cache_rams, cache_lookup, cache_stall, cache_word, cache_fill_ports, cache_fill,
                 cache_fault]
    else:
        @always_comb
        def no_cache():
            stall.next = 0
            wt_word.next = wt_q
            m_rready.next = 0
            m_arlen.next = 0
            m_arvalid.next = 0
            m_araddr.next = 0
            fills.next = 0
            ddr_fault.next = 0

        cache = [no_cache]

    # Control.

    st = enum("IDLE", "HDR", "PIXELS", "CLR_POP", "CLR", "POP", "PROJ", "IN_READ", "IN_CHECK",
              "SP_READ", "SP_WAIT", "SP_BIT", "GEO", "ACC", "FIRE", "ADVANCE", "ARGMAX", "EMIT",
              "ERR", "ENC", "ENC_WAIT", "ENC_BIT")
    state, ret = Signal(st.IDLE), Signal(st.IDLE)
    rf = index_signal(32)                                 # record field counter
    rec = unsigned_signal(A)                              # record base address
    # Header registers.
    n_pop, in_size, out_pop, proj_table, n_out = (unsigned_signal(A) for _ in range(5))
    in_h, in_w = unsigned_signal(16), unsigned_signal(16)
    rate, lf_shift, lf_mask = Signal(bool(0)), unsigned_signal(6), unsigned_signal(32)
    seed_base, in_sbase, in_rbits = unsigned_signal(A), unsigned_signal(A), unsigned_signal(A)
    x_row, x_bit, x_bits = unsigned_signal(A), index_signal(sw + 1), unsigned_signal(sw)
    run_T, t, q = unsigned_signal(T_BITS), unsigned_signal(T_BITS), unsigned_signal(A)
    pop_addr, proj_addr, proj_left = unsigned_signal(A), unsigned_signal(A), unsigned_signal(A)
    # Population registers.
    p_cwords, p_last, p_pos, p_words = (unsigned_signal(A) for _ in range(4))
    p_state, p_bias, p_bmode, p_spike, p_rbits, p_nproj = (unsigned_signal(A) for _ in range(6))
    p_C = unsigned_signal(A)
    p_theta, p_v0 = signed_signal(m + 1), signed_signal(m + 1)
    p_leak = unsigned_signal(5)
    # Projection registers.
    j_kind, j_input = unsigned_signal(2), Signal(bool(0))
    j_wbase, j_gy, j_gx, j_srow, j_wrow, j_wcol, j_wch = (unsigned_signal(A) for _ in range(7))
    j_sh, j_sw = unsigned_signal(16), unsigned_signal(16)
    j_sbase, j_srows, j_rbits, j_wword = (unsigned_signal(A) for _ in range(4))
    # Scan counters (the current event's source address and coordinates).
    e_addr, e_row = unsigned_signal(A), unsigned_signal(A)
    e_c, e_y, e_x = unsigned_signal(A), unsigned_signal(16), unsigned_signal(16)
    e_bit = index_signal(sw + 1)
    e_word = unsigned_signal(sw)
    e_value = unsigned_signal(ib)
    # dense row / conv channel weight offsets (they wrap harmlessly where the kind ignores them)
    e_woff, e_cbase = Signal(modbv(0)[A:]), Signal(modbv(0)[A:])
    e_dcw, e_dlane = unsigned_signal(A), unsigned_signal(LB)       # channel's word and lane
    # Event walk.
    g_phase = index_signal(4)
    g_sy, g_wy, g_sx, g_wx = (signed_signal(G + 2) for _ in range(4))
    g_ny, g_nx = unsigned_signal(G), unsigned_signal(G)
    a_i, b_i = unsigned_signal(G), unsigned_signal(G)
    s_row, s_col = signed_signal(A + 2), signed_signal(A + 2)
    w_row, w_col = signed_signal(A + 2), signed_signal(A + 2)
    k_w = unsigned_signal(A)
    issuing = Signal(bool(0))
    # Fire walk.
    f_c, f_pos, f_off = unsigned_signal(A), unsigned_signal(A), unsigned_signal(A)
    f_cw, f_lane, f_idx = unsigned_signal(A), unsigned_signal(LB), unsigned_signal(A)
    f_row, f_bit = unsigned_signal(A), index_signal(sw + 1)
    f_bits = unsigned_signal(sw)
    # Output.
    counts = [unsigned_signal(T_BITS) for _ in range(p.max_classes)]
    first_step, best, best_i = unsigned_signal(T_BITS), unsigned_signal(T_BITS), unsigned_signal(16)
    o_i = unsigned_signal(A)
    cyc, sop = unsigned_signal(COUNTER_BITS), unsigned_signal(COUNTER_BITS)
    stl = unsigned_signal(COUNTER_BITS)
    sat = unsigned_signal(COUNTER_BITS)
    counting = Signal(bool(0))
    v0_word = unsigned_signal(P * m)
    p_v0_bits = unsigned_signal(m)                      # v0's two's complement bits
    v0_cat = ConcatSignal(*([p_v0_bits] * P)) if P > 1 else p_v0_bits

    @always_comb
    def v0_fill():
        v0_word.next = v0_cat

    @always_comb
    def lane_control():
        if s1_valid:
            mode.next = s1_mode
        else:
            mode.next = 0
        theta.next = p_theta
        leak.next = p_leak
        value.next = e_value

    @always_comb
    def outputs():
        px_ready.next = state == st.PIXELS
        busy.next = state != st.IDLE and state != st.ERR
        res_valid.next = state == st.EMIT
        res_last.next = state == st.EMIT and o_i == n_out
        if o_i == 0:
            res_data.next = concat(first_step, best_i)
        else:
            res_data.next = counts[o_i - 1]

    @always_seq(clk.posedge, reset=rst)
    def control():
        d = intbv(0)[32:]
        bits = intbv(0)[sw:]
        lv = intbv(0)[32:]
        nxt = intbv(0)[32:]
        if counting:
            cyc.next = cyc + 1
        if stall:                                       # frozen: a DDR line is on its way
            if counting:
                stl.next = stl + 1
            if ddr_fault:
                error.next = ERR_DDR
                state.next = st.ERR
        else:
            flush.next = 0
            d[:] = tb_q
            sp_we.next = 0
            in_we.next = 0
            lf_we.next = 0
            clr_we.next = 0
            fw_valid.next = st_we
            fw_addr.next = st_wa
            fw_data.next = st_wd
            # ---- the pipeline: s0 -> s1; s1's word is written back by state_write
            s1_valid.next = s0_valid
            s1_addr.next = s0_addr
            s1_mode.next = s0_mode
            s1_lanes.next = s0_lanes
            s1_lane.next = s0_lane
            s1_diag.next = s0_diag
            s1_last.next = s0_last
            s1_fidx.next = s0_fidx
            s1_ext.next = s0_valid and s0_mode == 1 and not s0_diag and wt_ra >= WD
            s1_wa.next = wt_ra
            s0_valid.next = 0
            # The clamp count is registered before it is added (off the lanes' critical path); it
            # lands one cycle later, long before an image's counters are read.
            clamped_r.next = 0
            if s1_valid:
                clamped_r.next = n_clamped
            sat.next = sat + clamped_r
            if s1_valid:
                if s1_mode == 1:
                    if s1_diag:
                        sop.next = sop + 1
                    else:
                        sop.next = sop + s1_lanes
                else:                                       # a fire: pack the lane's spike
                    bits[:] = f_bits
                    if spike_word[s1_lane]:
                        bits[f_bit] = 1
                        if q == out_pop:
                            counts[s1_fidx].next = counts[s1_fidx] + 1
                            if first_step == 0:
                                first_step.next = t + 1
                    if f_bit == p_rbits - 1 or s1_last:
                        sp_we.next = 1
                        sp_wa.next = p_spike + f_row
                        sp_wd.next = bits
                        f_row.next = f_row + 1
                        f_bit.next = 0
                        f_bits.next = 0
                    else:
                        f_bit.next = f_bit + 1
                        f_bits.next = bits
            # ---- the states
            if state == st.IDLE:
                flush.next = 1
                rec.next = 0
                rf.next = 0
                tb_ra.next = 0
                state.next = st.HDR
            elif state == st.HDR:                           # read the header fields
                tb_ra.next = rf + 1
                rf.next = rf + 1
                if rf == HDR_MAGIC:
                    if d != MAGIC:
                        error.next = ERR_MAGIC
                        state.next = st.ERR
                elif rf == HDR_N_POPULATIONS:
                    n_pop.next = d[A:]
                    if d != layer_count:
                        error.next = ERR_LAYERS
                        state.next = st.ERR
                elif rf == HDR_MEMBRANE_MIN:
                    lo.next = d[m + 1:].signed()
                elif rf == HDR_MEMBRANE_MAX:
                    hi.next = d[m + 1:].signed()
                elif rf == HDR_INPUT_HEIGHT:
                    in_h.next = d[16:]
                elif rf == HDR_INPUT_WIDTH:
                    in_w.next = d[16:]
                elif rf == HDR_OUTPUT_POPULATION:
                    out_pop.next = d[A:]
                elif rf == HDR_INPUT_SIZE:
                    in_size.next = d[A:]
                elif rf == HDR_N_OUTPUTS:
                    n_out.next = d[A:]
                elif rf == HDR_ENCODING:
                    rate.next = d[0]
                elif rf == HDR_LFSR_SHIFT:
                    lf_shift.next = d[6:]
                elif rf == HDR_LFSR_MASK:
                    lf_mask.next = d
                elif rf == HDR_SEED_BASE:
                    seed_base.next = d[A:]
                elif rf == HDR_INPUT_SPIKE_BASE:
                    in_sbase.next = d[A:]
                elif rf == HDR_INPUT_ROW_BITS:
                    in_rbits.next = d[A:]
                elif rf == HDR_PROJECTION_TABLE:
                    proj_table.next = d[A:]
                    e_addr.next = 0
                    if T == 0:
                        error.next = ERR_T
                        state.next = st.ERR
                    else:
                        run_T.next = T
                        state.next = st.PIXELS
            elif state == st.PIXELS:                        # take exactly input_size pixels
                if px_valid:
                    in_we.next = 1
                    in_wa.next = e_addr
                    in_wd.next = px_data
                    e_addr.next = e_addr + 1
                    if (px_last and e_addr != in_size - 1) or (not px_last and e_addr == in_size - 1):
                        error.next = ERR_PIXELS
                        state.next = st.ERR
                    elif px_last:
                        q.next = 0
                        pop_addr.next = HEADER_WORDS
                        rec.next = HEADER_WORDS
                        tb_ra.next = HEADER_WORDS
                        rf.next = 0
                        cyc.next = 0
                        stl.next = 0
                        sop.next = 0
                        sat.next = 0
                        counting.next = 1
                        ret.next = st.CLR
                        state.next = st.CLR_POP
            elif state == st.CLR_POP or state == st.POP:     # read a population record
                tb_ra.next = rec + rf + 1
                rf.next = rf + 1
                if rf == POP_CHANNELS:
                    p_C.next = d[A:]
                elif rf == POP_CWORDS:
                    p_cwords.next = d[A:]
                elif rf == POP_LAST_LANES:
                    p_last.next = d[A:]
                elif rf == POP_POSITIONS:
                    p_pos.next = d[A:]
                elif rf == POP_STATE_WORDS:
                    p_words.next = d[A:]
                elif rf == POP_THETA:
                    p_theta.next = d[m + 1:].signed()
                elif rf == POP_V0:
                    p_v0.next = d[m + 1:].signed()
                    p_v0_bits.next = d[m:]
                elif rf == POP_LEAK_SHIFT:
                    p_leak.next = d[5:]
                elif rf == POP_STATE_BASE:
                    p_state.next = d[A:]
                elif rf == POP_BIAS_BASE:
                    p_bias.next = d[A:]
                elif rf == POP_BIAS_MODE:
                    p_bmode.next = d[A:]
                elif rf == POP_SPIKE_BASE:
                    p_spike.next = d[A:]
                elif rf == POP_ROW_BITS:
                    p_rbits.next = d[A:]
                elif rf == POP_PROJECTION_COUNT:
                    p_nproj.next = d[A:]
                    proj_left.next = d[A:]
                    k_w.next = 0
                    rf.next = 0
                    rec.next = proj_addr
                    tb_ra.next = proj_addr
                    if state == st.CLR_POP:
                        state.next = st.CLR
                    else:
                        state.next = st.PROJ
            elif state == st.CLR:                           # every state word of q = v0
                if k_w < p_words:
                    clr_we.next = 1
                    clr_addr.next = p_state + k_w
                    clr_data.next = v0_word
                    k_w.next = k_w + 1
                else:
                    if q == n_pop - 1:
                        q.next = 0
                        t.next = 0
                        pop_addr.next = HEADER_WORDS
                        proj_addr.next = proj_table
                        rec.next = HEADER_WORDS
                        tb_ra.next = HEADER_WORDS
                        rf.next = 0
                        e_addr.next = 0
                        x_row.next = 0
                        x_bit.next = 0
                        x_bits.next = 0
                        if rate:
                            state.next = st.ENC
                        else:
                            state.next = st.POP
                    else:
                        q.next = q + 1
                        pop_addr.next = pop_addr + POP_WORDS
                        rec.next = pop_addr + POP_WORDS
                        tb_ra.next = pop_addr + POP_WORDS
                        rf.next = 0
                        state.next = st.CLR_POP
            elif state == st.PROJ:                          # read a projection record
                if proj_left == 0:
                    f_c.next = 0
                    f_pos.next = 0
                    f_off.next = 0
                    f_cw.next = 0
                    f_lane.next = 0
                    f_idx.next = 0
                    f_row.next = 0
                    f_bit.next = 0
                    f_bits.next = 0
                    state.next = st.FIRE
                else:
                    tb_ra.next = rec + rf + 1
                    rf.next = rf + 1
                    if rf == PRJ_KIND:
                        j_kind.next = d[2:]
                    elif rf == PRJ_SOURCE:
                        j_input.next = d == INPUT_SOURCE
                    elif rf == PRJ_WEIGHT_BASE:
                        j_wbase.next = d[A:]
                    elif rf == PRJ_GEO_Y_BASE:
                        j_gy.next = d[A:]
                    elif rf == PRJ_GEO_X_BASE:
                        j_gx.next = d[A:]
                    elif rf == PRJ_STATE_ROW_STEP:
                        j_srow.next = d[A:]
                    elif rf == PRJ_WEIGHT_ROW_STEP:
                        j_wrow.next = d[A:]
                    elif rf == PRJ_WEIGHT_COL_STEP:
                        j_wcol.next = d[A:]
                    elif rf == PRJ_WEIGHT_CHANNEL_STEP:
                        j_wch.next = d[A:]
                    elif rf == PRJ_SOURCE_HEIGHT:
                        j_sh.next = d[16:]
                    elif rf == PRJ_SOURCE_WIDTH:
                        j_sw.next = d[16:]
                    elif rf == PRJ_SOURCE_SPIKE_BASE:
                        j_sbase.next = d[A:]
                    elif rf == PRJ_SOURCE_ROWS:
                        j_srows.next = d[A:]
                    elif rf == PRJ_SOURCE_ROW_BITS:
                        j_rbits.next = d[A:]
                    elif rf == PRJ_WEIGHT_WORD_STEP:
                        j_wword.next = d[A:]
                        proj_left.next = proj_left - 1
                        proj_addr.next = proj_addr + PROJ_WORDS
                        e_addr.next = 0
                        e_row.next = 0
                        e_c.next = 0
                        e_y.next = 0
                        e_x.next = 0
                        e_woff.next = 0
                        e_cbase.next = 0
                        e_dcw.next = 0
                        e_dlane.next = 0
                        if j_input:
                            in_ra.next = 0
                            state.next = st.IN_READ
                        else:
                            sp_ra.next = j_sbase
                            state.next = st.SP_READ
            elif state == st.IN_READ:                       # the input scan: one pixel, 2 cycles
                if e_addr == in_size:
                    rf.next = 0
                    rec.next = proj_addr
                    tb_ra.next = proj_addr
                    state.next = st.PROJ
                else:
                    state.next = st.IN_CHECK
            elif state == st.IN_CHECK:
                ret.next = st.IN_READ
                if in_q != 0:
                    e_value.next = in_q
                    g_phase.next = 0
                    state.next = st.GEO
                else:
                    state.next = st.ADVANCE
            elif state == st.SP_READ:                       # the spike scan: one bitmap word
                if e_row == j_srows:
                    rf.next = 0
                    rec.next = proj_addr
                    tb_ra.next = proj_addr
                    state.next = st.PROJ
                else:
                    state.next = st.SP_WAIT
            elif state == st.SP_WAIT:
                e_word.next = sp_q
                e_bit.next = 0
                if sp_q == 0:
                    e_row.next = e_row + 1
                    e_addr.next = e_addr + j_rbits
                    e_woff.next = e_woff + j_wword
                    sp_ra.next = j_sbase + e_row + 1
                    if e_y == j_sh - 1:
                        e_y.next = 0
                        e_c.next = e_c + 1
                        e_cbase.next = e_cbase + j_wch
                        if e_dlane == P - 1:
                            e_dlane.next = 0
                            e_dcw.next = e_dcw + 1
                        else:
                            e_dlane.next = e_dlane + 1
                    else:
                        e_y.next = e_y + 1
                    state.next = st.SP_READ
                else:
                    e_x.next = 0
                    state.next = st.SP_BIT
            elif state == st.SP_BIT:
                if e_word[e_bit]:
                    e_value.next = 1
                    ret.next = st.SP_BIT
                    g_phase.next = 0
                    state.next = st.GEO
                else:
                    ret.next = st.SP_BIT
                    state.next = st.ADVANCE                    # ADVANCE advances the bit
            elif state == st.GEO:                           # fetch the event's geometry entries
                if j_kind == KIND_DENSE:
                    s_row.next = 0
                    s_col.next = 0
                    w_row.next = e_woff
                    w_col.next = e_woff
                    g_ny.next = 1
                    g_nx.next = 1
                    a_i.next = 0
                    b_i.next = 0
                    k_w.next = 0
                    issuing.next = 1
                    state.next = st.ACC
                elif g_phase == 0:
                    ge_ra.next = j_gy + e_y
                    g_phase.next = 1
                elif g_phase == 1:
                    ge_ra.next = j_gx + e_x
                    g_phase.next = 2
                elif g_phase == 2:
                    g_sy.next = ge_q[G:]
                    g_wy.next = ge_q[2 * G:G]
                    g_ny.next = ge_q[3 * G:2 * G]
                    g_phase.next = 3
                else:
                    g_sx.next = ge_q[G:]
                    g_wx.next = ge_q[2 * G:G]
                    g_nx.next = ge_q[3 * G:2 * G]
                    s_row.next = g_sy
                    s_col.next = g_sy + ge_q[G:]
                    w_row.next = e_cbase + g_wy
                    w_col.next = e_cbase + g_wy + ge_q[2 * G:G]
                    a_i.next = 0
                    b_i.next = 0
                    k_w.next = 0
                    if g_ny == 0 or ge_q[3 * G:2 * G] == 0:
                        state.next = st.ADVANCE
                    else:
                        issuing.next = 1
                        state.next = st.ACC
            elif state == st.ACC:                           # walk the touched words, 1 per cycle
                if issuing:
                    s0_valid.next = 1
                    s0_mode.next = 1
                    s0_diag.next = j_kind != KIND_DENSE and j_kind != KIND_CONV
                    s0_lane.next = e_dlane
                    if j_kind != KIND_DENSE and j_kind != KIND_CONV:
                        st_ra.next = p_state + s_col + e_dcw
                        s0_addr.next = p_state + s_col + e_dcw
                        s0_lanes.next = 1
                    else:
                        st_ra.next = p_state + s_col + k_w
                        s0_addr.next = p_state + s_col + k_w
                        wt_ra.next = j_wbase + w_col + k_w
                        if k_w == p_cwords - 1:
                            s0_lanes.next = p_last
                        else:
                            s0_lanes.next = P
                    # advance (w, then b, then a)
                    if j_kind != KIND_DENSE and j_kind != KIND_CONV or k_w == p_cwords - 1:
                        k_w.next = 0
                        if b_i == g_nx - 1:
                            b_i.next = 0
                            if a_i == g_ny - 1:
                                issuing.next = 0
                            else:
                                a_i.next = a_i + 1
                                s_row.next = s_row + j_srow
                                s_col.next = s_row + j_srow + g_sx
                                w_row.next = w_row - j_wrow
                                w_col.next = w_row - j_wrow + g_wx
                        else:
                            b_i.next = b_i + 1
                            s_col.next = s_col + p_cwords
                            w_col.next = w_col - j_wcol
                    else:
                        k_w.next = k_w + 1
                elif not s0_valid and not s1_valid:
                    state.next = st.ADVANCE
            elif state == st.ADVANCE:                          # the scan moves on after an event
                if ret == st.IN_READ:
                    e_addr.next = e_addr + 1
                    in_ra.next = e_addr + 1
                    e_woff.next = e_woff + j_wch
                    if e_x == in_w - 1:
                        e_x.next = 0
                        if e_y == in_h - 1:
                            e_y.next = 0
                            e_c.next = e_c + 1
                            e_cbase.next = e_cbase + j_wch
                            if e_dlane == P - 1:
                                e_dlane.next = 0
                                e_dcw.next = e_dcw + 1
                            else:
                                e_dlane.next = e_dlane + 1
                        else:
                            e_y.next = e_y + 1
                    else:
                        e_x.next = e_x + 1
                    state.next = st.IN_READ
                else:                                       # the next bit of the bitmap word
                    e_addr.next = e_addr + 1
                    e_woff.next = e_woff + j_wch
                    if e_bit == j_rbits - 1:
                        e_row.next = e_row + 1
                        sp_ra.next = j_sbase + e_row + 1
                        if e_y == j_sh - 1:
                            e_y.next = 0
                            e_c.next = e_c + 1
                            e_cbase.next = e_cbase + j_wch
                            if e_dlane == P - 1:
                                e_dlane.next = 0
                                e_dcw.next = e_dcw + 1
                            else:
                                e_dlane.next = e_dlane + 1
                        else:
                            e_y.next = e_y + 1
                        state.next = st.SP_READ
                    else:
                        e_bit.next = e_bit + 1
                        e_x.next = e_x + 1
                        state.next = st.SP_BIT
            elif state == st.FIRE:                          # one neuron per cycle, canonical order
                if f_c < p_C:
                    st_ra.next = p_state + f_off
                    s0_addr.next = p_state + f_off
                    if p_bmode != 0:
                        bi_ra.next = p_bias + f_off
                    else:
                        bi_ra.next = p_bias + f_cw
                    s0_valid.next = 1
                    s0_mode.next = 2
                    s0_diag.next = 0
                    s0_lane.next = f_lane
                    s0_fidx.next = f_idx
                    s0_last.next = f_c == p_C - 1 and f_pos == p_pos - 1
                    f_idx.next = f_idx + 1
                    if f_pos == p_pos - 1:
                        f_pos.next = 0
                        f_c.next = f_c + 1
                        if f_lane == P - 1:
                            f_lane.next = 0
                            f_cw.next = f_cw + 1
                            f_off.next = f_cw + 1
                        else:
                            f_lane.next = f_lane + 1
                            f_off.next = f_cw
                    else:
                        f_pos.next = f_pos + 1
                        f_off.next = f_off + p_cwords
                elif not s0_valid and not s1_valid:
                    if q == n_pop - 1:
                        if t == run_T - 1:
                            counting.next = 0
                            best.next = 0
                            best_i.next = 0
                            o_i.next = 0
                            state.next = st.ARGMAX
                        else:
                            t.next = t + 1
                            q.next = 0
                            pop_addr.next = HEADER_WORDS
                            proj_addr.next = proj_table
                            rec.next = HEADER_WORDS
                            tb_ra.next = HEADER_WORDS
                            rf.next = 0
                            e_addr.next = 0
                            x_row.next = 0
                            x_bit.next = 0
                            x_bits.next = 0
                            if rate:
                                state.next = st.ENC
                            else:
                                state.next = st.POP
                    else:
                        q.next = q + 1
                        pop_addr.next = pop_addr + POP_WORDS
                        rec.next = pop_addr + POP_WORDS
                        tb_ra.next = pop_addr + POP_WORDS
                        rf.next = 0
                        state.next = st.POP
            elif state == st.ENC:        # rate input: pixel e_addr's level vs its LFSR lane
                if e_addr == in_size:
                    rec.next = HEADER_WORDS
                    tb_ra.next = HEADER_WORDS
                    rf.next = 0
                    state.next = st.POP
                else:
                    in_ra.next = e_addr
                    tb_ra.next = seed_base + e_addr
                    lf_ra.next = e_addr
                    state.next = st.ENC_WAIT
            elif state == st.ENC_WAIT:   # the addresses are on the RAMs
                state.next = st.ENC_BIT
            elif state == st.ENC_BIT:    # spike iff lane >> shift < pixel; step; pack the bit
                if t == 0:
                    lv[:] = tb_q
                else:
                    lv[:] = lf_q
                bits[:] = x_bits
                if (lv >> lf_shift) < in_q:
                    bits[x_bit] = 1
                nxt[:] = lv >> 1
                if lv[0]:
                    nxt[:] = nxt ^ lf_mask
                lf_we.next = 1
                lf_wa.next = e_addr
                lf_wd.next = nxt
                if x_bit == in_rbits - 1 or e_addr == in_size - 1:
                    sp_we.next = 1
                    sp_wa.next = in_sbase + x_row
                    sp_wd.next = bits
                    x_row.next = x_row + 1
                    x_bit.next = 0
                    x_bits.next = 0
                else:
                    x_bit.next = x_bit + 1
                    x_bits.next = bits
                e_addr.next = e_addr + 1
                state.next = st.ENC
            elif state == st.ARGMAX:                        # ties to the lowest index
                if o_i < n_out:
                    if counts[o_i] > best or o_i == 0:
                        best.next = counts[o_i]
                        best_i.next = o_i
                    o_i.next = o_i + 1
                else:
                    o_i.next = 0
                    state.next = st.EMIT
            elif state == st.EMIT:
                if res_ready:
                    if o_i > 0:
                        counts[o_i - 1].next = 0
                    if o_i == n_out:
                        first_step.next = 0
                        state.next = st.IDLE
                    else:
                        o_i.next = o_i + 1
        cycles.next = cyc
        sops.next = sop
        saturations.next = sat
        stalls.next = stl

    return (table_offset, weight_chip_address, memories, load_port, lanes, count_clamps,
            v0_fill, state_write, forward, cache, lane_control, outputs, control)


def ports(p: AcceleratorParams) -> dict:
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                ld_we=Signal(bool(0)), ld_sel=unsigned_signal(2),
                ld_addr=unsigned_signal(ld_addr_bits(p)), ld_data=unsigned_signal(ld_data_bits(p)),
                px_valid=Signal(bool(0)), px_ready=Signal(bool(0)),
                px_data=unsigned_signal(p.input_bits), px_last=Signal(bool(0)),
                res_valid=Signal(bool(0)), res_ready=Signal(bool(0)),
                res_data=unsigned_signal(32), res_last=Signal(bool(0)),
                T=unsigned_signal(T_BITS), table_base=unsigned_signal(ld_addr_bits(p)),
                layer_count=unsigned_signal(16),
                busy=Signal(bool(0)), error=unsigned_signal(4),
                cycles=unsigned_signal(COUNTER_BITS), sops=unsigned_signal(COUNTER_BITS),
                saturations=unsigned_signal(COUNTER_BITS), stalls=unsigned_signal(COUNTER_BITS),
                fills=unsigned_signal(COUNTER_BITS), weight_addr=unsigned_signal(32),
                m_araddr=unsigned_signal(32), m_arlen=unsigned_signal(8),
                m_arvalid=Signal(bool(0)), m_arready=Signal(bool(0)),
                m_rdata=unsigned_signal(DDR_BEAT_BITS), m_rresp=unsigned_signal(2),
                m_rlast=Signal(bool(0)), m_rvalid=Signal(bool(0)),
                m_rready=Signal(bool(0)))


def top(p: AcceleratorParams, init: "ImageInit | None" = None):
    """The block with fresh ports, ready to convert or synthesise (``init``: its image RAMs'
    initial contents)."""
    return layer_sequencer(p=p, init=init, **ports(p))


# ----------------------------------------------------------------------------- host protocol
# What a host (this module's bench, the AXI top's loader, the PYNQ driver) writes to the load
# port: every memory image as words, lane 0 in the low bits (``twinspike compile`` writes the
# same words to its .mem/.coe files); and what the result words mean.

#: The memories with an image, by load-port select code.
IMAGE_MEMORIES = {"table": MEM_TABLE, "weight": MEM_WEIGHT, "bias": MEM_BIAS,
                  "geometry": MEM_GEOMETRY}


def word_bits(memory: str, p: AcceleratorParams) -> int:
    """Width of one word of ``memory``."""
    return {"table": 32, "weight": p.lanes * p.weight_bits, "bias": p.lanes * p.membrane_bits,
            "geometry": 3 * GEOMETRY_FIELD_BITS}[memory]


def memory_words(images: Images) -> dict[str, list[int]]:
    """Every image as the words of its memory (the on-chip weights only:
    :func:`external_words` are the rest)."""
    p = images.params
    return {"table": [int(x) for x in images.table],
            "weight": [pack_lanes(row, p.weight_bits) for row in images.onchip_weights],
            "bias": [pack_lanes(row, p.membrane_bits) for row in images.biases],
            "geometry": [pack_lanes(row, GEOMETRY_FIELD_BITS) for row in images.geometry]}


def external_words(images: Images) -> list[int]:
    """The weight words that live in DDR (from address ``weight_depth`` on), one 64-bit
    beat each, in address order: what a host writes to the buffer at ``WEIGHT_ADDR``."""
    return [pack_lanes(row, images.params.weight_bits) for row in images.external_weights]


@dataclass(frozen=True)
class ImageInit:
    """Initial contents of the sequencer's image RAMs: ``rams`` maps each memory of
    :data:`IMAGE_MEMORIES` to its :class:`~twinspike.hw.common.RamInit`; ``params`` are the
    parameters the images were compiled for (the sequencer's must be the same)."""

    params: AcceleratorParams
    rams: dict


def image_init(images: Images, mem_dir) -> ImageInit:
    """The initial contents of a compiled network: every memory's :func:`memory_words` (the
    on-chip weights only), and for the VHDL ``<mem_dir>/<memory>.mem`` -- a ``twinspike
    compile`` folder holds exactly those words (``twinspike.compile.read_images`` parses it).
    ``mem_dir`` is written into the VHDL as given: the folder as GHDL or Vivado will see it,
    best an absolute path. The table starts at address 0 (``TABLE_BASE`` 0)."""
    words = memory_words(images)
    return ImageInit(images.params, {
        name: RamInit(words[name], str(Path(mem_dir) / f"{name}.mem")) for name in IMAGE_MEMORIES})


def memory_load(images: Images) -> list[tuple[int, int, int]]:
    """The load-port cycles: ``(select, address, word)`` for every word of every image."""
    return [(IMAGE_MEMORIES[name], address, word)
            for name, words in memory_words(images).items()
            for address, word in enumerate(words)]


def read_result(words: list[int]) -> dict:
    """An image's result words back into ``class``, ``first_spike_step`` and ``counts``."""
    return {"class": words[0] & 0xFFFF, "first_spike_step": words[0] >> 16,
            "counts": np.array(words[1:], dtype=np.int64)}


# ----------------------------------------------------------------------------- test bench

CHUNK = 16


@block
def testbench(images: Images, pixels, T: int, layer_count: int | None = None):
    """Self-checking bench: loads ``images`` through the load port, then streams every image
    of ``pixels[B, n_inputs]`` (valid/ready, ``px_last`` on each image's last pixel) and takes
    the result words with ``res_ready`` low every fourth cycle (back-pressure); the DDR
    weights are served by ``hw/axi.bench_ddr``. Prints ``r word`` (hex) per result word, then
    per image ``c cycles``, ``s sops``, ``x saturations``, ``k stalls``, ``f fills`` (hex) and
    ``e error``; then ``done``."""
    p = images.params
    pixels = np.asarray(pixels, dtype=np.int64).reshape(len(pixels), -1)
    s = ports(p)
    clk, rst = s["clk"], s["rst"]
    dut = layer_sequencer(p=p, **s)
    ddr = bench_ddr(clk, rst, s["m_araddr"], s["m_arlen"], s["m_arvalid"], s["m_arready"],
                    s["m_rdata"], s["m_rresp"], s["m_rvalid"], s["m_rlast"], s["m_rready"],
                    external_words(images) or [0], DDR_BENCH_BASE)
    weight_addr = s["weight_addr"]
    load = memory_load(images)
    n_load, n_images = len(load), len(pixels)
    flat = [int(x) for x in pixels.reshape(-1)]
    lasts = [int(i % pixels.shape[1] == pixels.shape[1] - 1) for i in range(len(flat))]
    n_pix = len(flat)
    li, pi = index_signal(n_load + 1), index_signal(n_pix + 1)
    n_chunks = -(-ld_data_bits(p) // CHUNK)
    chunks = [unsigned_signal(CHUNK) for _ in range(n_chunks)]
    roms = [rom_driver(li, s["ld_sel"], tuple(r[0] for r in load) + (0,)),
            rom_driver(li, s["ld_addr"], tuple(r[1] for r in load) + (0,)),
            rom_driver(pi, s["px_data"], tuple(flat) + (0,)),
            rom_driver(pi, s["px_last"], tuple(lasts) + (0,))]
    roms += [rom_driver(li, chunks[k], tuple((r[2] >> (k * CHUNK)) & 0xFFFF for r in load)
                        + (0,)) for k in range(n_chunks)]
    data = ConcatSignal(*reversed(chunks)) if n_chunks > 1 else chunks[0]
    loading, streaming = Signal(bool(0)), Signal(bool(0))
    tick = Signal(modbv(0)[2:])
    ld_we, ld_data, px_valid, px_ready = s["ld_we"], s["ld_data"], s["px_valid"], s["px_ready"]
    res_valid, res_ready, res_data, res_last = (s["res_valid"], s["res_ready"], s["res_data"],
                                                s["res_last"])
    T_in, cycles, sops, error = s["T"], s["cycles"], s["sops"], s["error"]
    saturations, table_base, layers_in = s["saturations"], s["table_base"], s["layer_count"]
    stalls, fills = s["stalls"], s["fills"]
    n_layers = (decode_table(images.table)[0]["n_populations"] if layer_count is None
                else int(layer_count))
    width = len(ld_data)

    @always_comb
    def drive():
        ld_we.next = loading
        ld_data.next = data[width:]
        px_valid.next = streaming and pi < n_pix
        res_ready.next = tick != 3
        T_in.next = T
        table_base.next = 0
        layers_in.next = n_layers
        weight_addr.next = DDR_BENCH_BASE

    @always_seq(clk.posedge, reset=rst)
    def feed():
        tick.next = tick + 1
        if px_valid and px_ready:
            pi.next = pi + 1

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        loading.next = 1
        for i in range(n_load):
            li.next = i
            yield clk.posedge
            yield clk.negedge
        loading.next = 0
        li.next = n_load
        streaming.next = 1
        done = 0
        while done < n_images:
            yield clk.posedge
            yield clk.negedge
            if res_valid and res_ready:
                print("r %s" % res_data)
                if res_last:
                    print("c %s" % cycles)
                    print("s %s" % sops)
                    print("x %s" % saturations)
                    print("k %s" % stalls)
                    print("f %s" % fills)
                    print("e %d" % error)
                    done += 1
            if error != 0:
                print("e %d" % error)
                done = n_images
        print("done")
        raise StopSimulation()

    return dut, ddr, roms, drive, feed, clock, stimulus


def parse_lines(images: Images, lines: list[str]) -> list[dict]:
    """The bench's lines back into one record per image: ``class``, ``first_spike_step``,
    ``counts``, ``cycles``, ``sops``, ``saturations``, ``stalls``, ``fills``, ``error``."""
    out, words = [], []
    for line in lines:
        kind, value = line.split()
        if kind == "r":
            words.append(int(value, 16))
        elif kind == "c":
            out.append({**read_result(words), "cycles": int(value, 16)})
            words = []
        elif kind == "s":
            out[-1]["sops"] = int(value, 16)
        elif kind == "x":
            out[-1]["saturations"] = int(value, 16)
        elif kind == "k":
            out[-1]["stalls"] = int(value, 16)
        elif kind == "f":
            out[-1]["fills"] = int(value, 16)
        elif kind == "e":
            if out and "error" not in out[-1]:
                out[-1]["error"] = int(value)
            else:
                out.append({"error": int(value)})
        else:
            raise ValueError(f"unexpected bench line {line!r}")
    return out


def run_bench(images: Images, pixels, T: int, vcd=None,
              layer_count: int | None = None) -> list[dict]:
    """Simulate :func:`testbench` in MyHDL and parse what it printed (``vcd``: also write a
    value-change dump of the run there; ``layer_count``: what the host claims, default the
    table's)."""
    return parse_lines(images, toolchain.run_myhdl(testbench(images, pixels, T, layer_count),
                                                   vcd))
