"""MyHDL twin of the conv2d event engine (semantics, memory layouts and cycle formula in
``sw/conv_engine.py``).

Ports (all synchronous to ``clk``; ``rst`` is synchronous, active high, and clears the control
state, not the RAMs):

* Inputs, taken on a clock edge where ``ready`` is 1 (priority ``clear`` > ``fire`` > event):
  ``clear`` writes ``v0`` into every membrane word; ``ev_valid`` with ``ev_bank`` (weight bank =
  projection), ``ev_c``, ``ev_y``, ``ev_x`` and ``ev_value`` (unsigned ``value_bits``; 1 for a
  spike) accumulates one source event; ``fire`` runs the fire phase. A timestep is: the
  events of each projection (bank 0 first, ascending source address), then ``fire``;
  ``clear`` once before the first timestep.
* Configuration: ``theta``, ``leak_shift``, ``v0``; weight RAM write port ``wt_we``,
  ``wt_addr``, ``wt_lane``, ``wt_data`` (two's complement bits) and bias RAM write port
  ``bias_we``, ``bias_addr``, ``bias_lane``, ``bias_data``, one lane per write
  (``sw/conv_engine.py: weight_image, bias_image``).
* Outputs of the fire phase: ``out_valid`` / ``out_addr`` (one output event per cycle at most,
  canonical addresses ascending; no back-pressure: the consumer takes every event),
  ``fire_done`` (the last step of the phase), ``fire_v_valid`` / ``fire_v`` (a word's membranes
  after firing, lane ``i`` in bits ``[i*m, (i+1)*m)``); ``sop_count`` counts the synaptic
  operations performed since reset (32 bits, wraps: a performance counter).

Structure: a controller walks one issue slot per cycle (an event's touched membrane words in
ascending output address, from per-coordinate ROMs built by ``axis_taps``; the clear; the fire
scan) and feeds a two-stage pipeline in each of the P lanes: stage 1 reads the membrane, weight
and bias RAMs (registered reads), stage 2 runs ``if_lane`` (``hw/if_pe_array.py``) and writes
the membrane back. With ``value_bits > 1`` a ``lane_multiplier`` scales the weight read by the
event's value (latched when the event is accepted, carried into stage 2) before the adder.
A read of the word written in the same cycle takes the written value from a forwarding
register. The fire scan visits ``(word, lane, position)`` in canonical order: in a
word's lane-0 slots the P lanes fire the word at once and keep their spike bits in a per-lane
spike buffer, from which the slots of lanes 1..P-1 emit.

Several projections into one population run as successive passes (bank 0 events, bank 1
events, ...) before one ``fire``: each bank holds one same-geometry projection (a shortcut of
another geometry is first rewritten with ``shortcut_weights``).
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always, always_comb,
                   always_seq, block, instance, intbv, modbv)

from twinspike.hw.common import (index_signal, low_bits, rom_driver, rom_values, signed_signal,
                                 unpack_lanes, unsigned_signal)
from twinspike.hw.if_pe_array import (OP_ACC, OP_FIRE, OP_HOLD, OP_LOAD, if_lane,
                                      lane_multiplier, scaled_weight)
from twinspike.sw.conv_engine import (ConvEngineParams, FireConfig, axis_taps, bias_image,
                                      check_run, engine_projections, weight_image)
from twinspike.sw.if_pe_array import LEAK_SHIFT_BITS
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = ConvEngineParams
ST_IDLE, ST_GEN, ST_CLEAR, ST_FIRE = range(4)
#: Bench input kinds (one per ``ready`` slot).
IN_CLEAR, IN_EVENT, IN_FIRE = range(3)
SOP_BITS = 32


def axis_roms(size_in: int, size_out: int, p: ConvEngineParams, ma_step: int, wa_step: int):
    """Per source coordinate along one axis: membrane offset of the first touched output,
    weight offset of its tap, last step index and whether anything is touched."""
    taps = [axis_taps(i, size_out, p.kernel, p.stride, p.padding) for i in range(size_in)]
    return (rom_values(o * ma_step for o, _, _ in taps),
            rom_values(k * wa_step for _, k, _ in taps),
            rom_values(max(n - 1, 0) for _, _, n in taps),
            rom_values(n > 0 for _, _, n in taps))


@block
def conv_lane(clk, lane, p: ConvEngineParams, rd_ma, rd_wa, rd_bw, s2_op, s2_write, s2_ma,
              s2_pos, s2_scan, s2_lane, s2_value, lane_mask, fwd_hit, wt_we, wt_addr, wt_lane,
              wt_value, bias_we, bias_addr, bias_lane, bias_value, theta, leak_shift, v0, v_bits,
              emit):
    """Lane ``lane``: membrane, weight, bias and spike RAMs around one ``if_lane`` (its weight
    scaled by the event value ``s2_value``)."""
    m, wb = p.membrane_bits, p.weight_bits
    membranes = [signed_signal(m) for _ in range(max(p.membrane_depth, 2))]
    weights = [signed_signal(wb) for _ in range(max(p.weight_depth, 2))]
    biases = [signed_signal(m) for _ in range(max(p.words, 2))]
    fired = [Signal(bool(0)) for _ in range(max(p.positions, 2))]
    v_read, v_fwd, v_in, v_out = (signed_signal(m) for _ in range(4))
    b_read, lane_bias = signed_signal(m), signed_signal(m)
    w_read = signed_signal(wb)
    enable, spike = Signal(bool(0)), Signal(bool(0))
    addend = scaled_weight(w_read, s2_value)
    multiplier = lane_multiplier(w_read, s2_value, addend)
    datapath = if_lane(s2_op, enable, addend, lane_bias, theta, leak_shift, v_in, v_out, spike, m)

    @always(clk.posedge)
    def membrane_ram():
        if s2_write:
            membranes[s2_ma].next = v_out
        v_read.next = membranes[rd_ma]

    @always(clk.posedge)
    def forward_reg():
        v_fwd.next = v_out

    @always(clk.posedge)
    def weight_ram():
        if wt_we and wt_lane == lane:
            weights[wt_addr].next = wt_value
        w_read.next = weights[rd_wa]

    @always(clk.posedge)
    def bias_ram():
        if bias_we and bias_lane == lane:
            biases[bias_addr].next = bias_value
        b_read.next = biases[rd_bw]

    @always(clk.posedge)
    def spike_ram():
        if s2_op == OP_FIRE:
            fired[s2_pos].next = spike

    @always_comb
    def operands():
        if fwd_hit:
            v_in.next = v_fwd
        else:
            v_in.next = v_read
        if s2_op == OP_LOAD:
            lane_bias.next = v0
        else:
            lane_bias.next = b_read
        enable.next = lane_mask[lane]
        v_bits.next = v_out[m:]

    @always_comb
    def emission():
        if s2_scan and s2_lane == lane:
            if s2_op == OP_FIRE:
                emit.next = spike
            else:
                emit.next = fired[s2_pos]
        else:
            emit.next = 0

    return (multiplier, datapath, membrane_ram, forward_reg, weight_ram, bias_ram, spike_ram,
            operands, emission)


@block
def conv_engine(clk, rst, ev_valid, ev_bank, ev_c, ev_y, ev_x, ev_value, clear, fire, ready,
                theta, leak_shift, v0, wt_we, wt_addr, wt_lane, wt_data, bias_we, bias_addr,
                bias_lane, bias_data, out_valid, out_addr, fire_done, fire_v_valid, fire_v,
                sop_count, p: ConvEngineParams):
    if not isinstance(p, ConvEngineParams):
        raise ValueError(f"conv_engine expects ConvEngineParams, got {type(p).__name__}")
    lanes, words, npos, k = p.lanes, p.words, p.positions, p.kernel
    mdepth, wdepth, last_lanes = p.membrane_depth, p.weight_depth, p.last_lanes
    full_mask, last_mask = (1 << lanes) - 1, (1 << last_lanes) - 1
    tap_words = k * k * words
    col_wa, row_wa, row_ma = p.stride * words, p.stride * k * words, p.w_out * words

    # Per-coordinate ROMs of the address generator.
    y_ma, y_wa, y_last, y_hit = axis_roms(p.h_in, p.h_out, p, row_ma, k * words)
    x_ma, x_wa, x_last, x_hit = axis_roms(p.w_in, p.w_out, p, words, words)
    t_y_ma, t_x_ma = index_signal(mdepth), index_signal(mdepth)
    t_y_wa, t_x_wa, t_c_wa, t_b_wa = (index_signal(wdepth) for _ in range(4))
    t_y_last, t_x_last = index_signal(k), index_signal(k)
    t_y_hit, t_x_hit = Signal(bool(0)), Signal(bool(0))
    roms = [rom_driver(ev_y, t_y_ma, y_ma), rom_driver(ev_y, t_y_wa, y_wa),
            rom_driver(ev_y, t_y_last, y_last), rom_driver(ev_y, t_y_hit, y_hit),
            rom_driver(ev_x, t_x_ma, x_ma), rom_driver(ev_x, t_x_wa, x_wa),
            rom_driver(ev_x, t_x_last, x_last), rom_driver(ev_x, t_x_hit, x_hit),
            rom_driver(ev_c, t_c_wa, rom_values(c * tap_words for c in range(p.c_in))),
            rom_driver(ev_bank, t_b_wa,
                       rom_values(b * p.c_in * tap_words for b in range(p.projections)))]

    state = Signal(intbv(ST_IDLE, min=0, max=4))
    # Event walk: membrane address (row start), weight address (column and row starts).
    g_ma, g_ma_row = index_signal(mdepth), index_signal(mdepth)
    g_wa, g_wa_col, g_wa_row = (index_signal(wdepth) for _ in range(3))
    g_word = index_signal(words)
    g_xi, g_yi, g_xlast, g_ylast = (index_signal(k) for _ in range(4))
    g_value, s2_value = unsigned_signal(p.value_bits), unsigned_signal(p.value_bits)
    # Clear walk and fire scan.
    c_addr = index_signal(mdepth)
    f_w, f_l, f_pos, f_ma = index_signal(words), index_signal(lanes), index_signal(npos), \
        index_signal(mdepth)
    f_out = index_signal(p.c_out * npos)
    g_last, c_last, f_last, f_lane_end, free = (Signal(bool(0)) for _ in range(5))
    # Stage 1 (issue) and stage 2 (datapath, write-back).
    rd_ma = index_signal(mdepth)
    iss_op = unsigned_signal(2)
    s2_op = unsigned_signal(2)
    s2_write, s2_scan, s2_done, s2_last_word, fwd_hit = (Signal(bool(0)) for _ in range(5))
    s2_ma, s2_pos, s2_lane = index_signal(mdepth), index_signal(npos), index_signal(lanes)
    s2_out = index_signal(p.c_out * npos)
    lane_mask = unsigned_signal(lanes, full_mask)
    wt_value, bias_value = signed_signal(p.weight_bits), signed_signal(p.membrane_bits)

    v_bits = [unsigned_signal(p.membrane_bits) for _ in range(lanes)]
    emits = [Signal(bool(0)) for _ in range(lanes)]
    lane_units = [conv_lane(clk, i, p, rd_ma, g_wa, f_w, s2_op, s2_write, s2_ma, s2_pos,
                            s2_scan, s2_lane, s2_value, lane_mask, fwd_hit, wt_we, wt_addr,
                            wt_lane, wt_value, bias_we, bias_addr, bias_lane, bias_value, theta,
                            leak_shift, v0, v_bits[i], emits[i])
                  for i in range(lanes)]
    flat_v = ConcatSignal(*reversed(v_bits)) if lanes > 1 else v_bits[0]
    flat_emit = ConcatSignal(*reversed(emits)) if lanes > 1 else emits[0]

    @always_comb
    def unpack():
        wt_value.next = wt_data.signed()
        bias_value.next = bias_data.signed()

    @always_comb
    def walk_flags():
        g_last.next = g_word == words - 1 and g_xi == g_xlast and g_yi == g_ylast
        c_last.next = c_addr == mdepth - 1
        if f_w == words - 1:
            f_lane_end.next = f_l == last_lanes - 1
        else:
            f_lane_end.next = f_l == lanes - 1
        f_last.next = f_w == words - 1 and f_l == last_lanes - 1 and f_pos == npos - 1

    @always_comb
    def readiness():
        if state == ST_GEN:
            free.next = g_last
        elif state == ST_CLEAR:
            free.next = c_last
        elif state == ST_FIRE:
            free.next = f_last
        else:
            free.next = 1

    @always_comb
    def issue():
        if state == ST_GEN:
            rd_ma.next = g_ma
            iss_op.next = OP_ACC
        elif state == ST_CLEAR:
            rd_ma.next = c_addr
            iss_op.next = OP_LOAD
        elif state == ST_FIRE:
            rd_ma.next = f_ma
            if f_l == 0:
                iss_op.next = OP_FIRE
            else:
                iss_op.next = OP_HOLD
        else:
            rd_ma.next = g_ma
            iss_op.next = OP_HOLD

    @always_comb
    def outputs():
        ready.next = free
        if s2_last_word:
            lane_mask.next = last_mask
        else:
            lane_mask.next = full_mask
        out_valid.next = flat_emit != 0
        out_addr.next = s2_out
        fire_done.next = s2_done
        fire_v_valid.next = s2_op == OP_FIRE
        fire_v.next = flat_v

    @always_seq(clk.posedge, reset=rst)
    def stage2():
        s2_op.next = iss_op
        s2_write.next = iss_op != OP_HOLD
        s2_ma.next = rd_ma
        s2_pos.next = f_pos
        s2_lane.next = f_l
        s2_out.next = f_out
        s2_value.next = g_value
        s2_scan.next = state == ST_FIRE
        s2_done.next = state == ST_FIRE and f_last
        s2_last_word.next = state == ST_GEN and g_word == words - 1
        fwd_hit.next = s2_write and s2_ma == rd_ma
        if s2_op == OP_ACC:
            if s2_last_word:
                sop_count.next = sop_count + last_lanes
            else:
                sop_count.next = sop_count + lanes

    @always_seq(clk.posedge, reset=rst)
    def control():
        if state == ST_GEN:
            if g_word != words - 1:
                g_word.next = g_word + 1
                g_ma.next = g_ma + 1
                g_wa.next = g_wa + 1
            elif g_xi != g_xlast:
                g_word.next = 0
                g_xi.next = g_xi + 1
                g_ma.next = g_ma + 1
                g_wa_col.next = g_wa_col - col_wa
                g_wa.next = g_wa_col - col_wa
            elif g_yi != g_ylast:
                g_word.next = 0
                g_xi.next = 0
                g_yi.next = g_yi + 1
                g_ma_row.next = g_ma_row + row_ma
                g_ma.next = g_ma_row + row_ma
                g_wa_row.next = g_wa_row - row_wa
                g_wa_col.next = g_wa_row - row_wa
                g_wa.next = g_wa_row - row_wa
            else:
                state.next = ST_IDLE
        elif state == ST_CLEAR:
            if c_last:
                state.next = ST_IDLE
            else:
                c_addr.next = c_addr + 1
        elif state == ST_FIRE:
            if not f_last:
                f_out.next = f_out + 1
            if f_pos != npos - 1:
                f_pos.next = f_pos + 1
                f_ma.next = f_ma + words
            else:
                f_pos.next = 0
                if not f_lane_end:
                    f_l.next = f_l + 1
                    f_ma.next = f_w
                elif f_w != words - 1:
                    f_l.next = 0
                    f_w.next = f_w + 1
                    f_ma.next = f_w + 1
                else:
                    state.next = ST_IDLE
        if free:
            if clear:
                state.next = ST_CLEAR
                c_addr.next = 0
            elif fire:
                state.next = ST_FIRE
                f_w.next = 0
                f_l.next = 0
                f_pos.next = 0
                f_ma.next = 0
                f_out.next = 0
            elif ev_valid:
                g_value.next = ev_value
                g_word.next = 0
                g_xi.next = 0
                g_yi.next = 0
                g_xlast.next = t_x_last
                g_ylast.next = t_y_last
                g_ma.next = t_y_ma + t_x_ma
                g_ma_row.next = t_y_ma + t_x_ma
                g_wa.next = t_b_wa + t_c_wa + t_y_wa + t_x_wa
                g_wa_col.next = t_b_wa + t_c_wa + t_y_wa + t_x_wa
                g_wa_row.next = t_b_wa + t_c_wa + t_y_wa + t_x_wa
                if t_y_hit and t_x_hit:
                    state.next = ST_GEN
                else:
                    state.next = ST_IDLE

    return (roms, lane_units, unpack, walk_flags, readiness, issue, outputs, stage2, control)


def ports(p: ConvEngineParams) -> dict:
    m = p.membrane_bits
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                ev_valid=Signal(bool(0)), ev_bank=index_signal(p.projections),
                ev_c=index_signal(p.c_in), ev_y=index_signal(p.h_in), ev_x=index_signal(p.w_in),
                ev_value=unsigned_signal(p.value_bits),
                clear=Signal(bool(0)), fire=Signal(bool(0)), ready=Signal(bool(0)),
                theta=signed_signal(m, 1), leak_shift=unsigned_signal(LEAK_SHIFT_BITS),
                v0=signed_signal(m), wt_we=Signal(bool(0)), wt_addr=index_signal(p.weight_depth),
                wt_lane=index_signal(p.lanes), wt_data=unsigned_signal(p.weight_bits),
                bias_we=Signal(bool(0)), bias_addr=index_signal(p.words),
                bias_lane=index_signal(p.lanes), bias_data=unsigned_signal(m),
                out_valid=Signal(bool(0)), out_addr=index_signal(p.c_out * p.positions),
                fire_done=Signal(bool(0)), fire_v_valid=Signal(bool(0)),
                fire_v=unsigned_signal(p.lanes * m), sop_count=Signal(modbv(0)[SOP_BITS:]))


def top(p: ConvEngineParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return conv_engine(p=p, **ports(p))


# ----------------------------------------------------------------------------- host protocol
# What a host (this module's bench, the whole-network runner, a sequencer) sends to and reads
# from the engine's ports: the memory image through the write ports (one lane per write), the
# input stream (one item per ready slot), and the fire phase's outputs back into events and
# membranes.

def memory_load(p: ConvEngineParams, weights, bias) -> list[tuple[int, int, int, int]]:
    """The write-port cycles that load the engine: ``(weight?, address, lane, value)`` rows,
    every lane of the weight image (``weights[projections, c_out, c_in, k, k]``) first, then
    the bias image (``bias[c_out]``); values signed, as ``sw/conv_engine.py`` lays them out."""
    wimg, bimg = weight_image(p, weights), bias_image(p, bias)
    return ([(1, a, lane, int(wimg[a, lane])) for a in range(p.weight_depth)
             for lane in range(p.lanes)]
            + [(0, a, lane, int(bimg[a, lane])) for a in range(p.words)
               for lane in range(p.lanes)])


def input_stream(p: ConvEngineParams, spikes) -> list[tuple[int, int, int, int, int, int]]:
    """``(kind, bank, c, y, x, value)`` per ``ready`` slot: clear, then per timestep every
    bank's events (non-zero values) in ascending source address and a fire
    (``spikes[projections, T, c_in, h, w]``)."""
    stream = [(IN_CLEAR, 0, 0, 0, 0, 0)]
    for t in range(spikes.shape[1]):
        for bank in range(p.projections):
            for c, y, x in zip(*spikes[bank, t].nonzero()):
                stream.append((IN_EVENT, bank, int(c), int(y), int(x),
                               int(spikes[bank, t, c, y, x])))
        stream.append((IN_FIRE, 0, 0, 0, 0, 0))
    return stream


def read_back(p: ConvEngineParams, emitted, fired_last) -> dict:
    """The outputs of one run from what the fire phases gave: ``emitted[t]`` the output
    addresses of timestep ``t`` in emitted order, ``fired_last`` the last timestep's fired
    membrane words (word-major, as the fire scan goes). Returns ``events`` (one int64 array per
    timestep) and ``v`` int64 ``[c_out, h_out, w_out]``."""
    if len(fired_last) != p.membrane_depth:
        raise ValueError(f"{len(fired_last)} fired words, expected {p.membrane_depth}")
    v = np.zeros((p.c_out, p.positions), dtype=np.int64)
    for index, word in enumerate(fired_last):
        w, pos = divmod(index, p.positions)
        channels = min(p.lanes, p.c_out - w * p.lanes)
        v[w * p.lanes:w * p.lanes + channels, pos] = \
            unpack_lanes(word, p.lanes, p.membrane_bits)[:channels]
    events = tuple(np.array(addrs, dtype=np.int64) for addrs in emitted)
    return dict(events=events, v=v.reshape(p.output_shape))


@block
def testbench(p: ConvEngineParams, weights, spikes, config: FireConfig):
    """Self-checking bench: loads the weight and bias RAMs, then presents the input stream
    (:func:`input_stream`) as fast as ``ready`` allows and prints each output event
    (``e t addr``), each fired word (``v t word``, hex), then the cycle count (``c n``: edges
    from the one accepting ``clear`` to the one completing the last fire step) and the SOP
    counter (``s hex``). Needs ``T >= 1``."""
    projs, config = check_run(engine_projections(p, weights, spikes), config)
    spikes = np.stack([q.spikes for q in projs])
    n_steps = spikes.shape[1]
    if n_steps < 1:
        raise ValueError(f"testbench needs at least one timestep, got T={n_steps}")
    s = ports(p)
    clk, rst, ready = s["clk"], s["rst"], s["ready"]
    dut = conv_engine(p=p, **s)

    load = memory_load(p, [q.weights for q in projs], config.bias)
    w_entries = [row[1:] for row in load if row[0]]
    b_entries = [row[1:] for row in load if not row[0]]
    stream = input_stream(p, spikes)
    n_w, n_b, n_in = len(w_entries), len(b_entries), len(stream)
    w_idx, b_idx, in_idx = index_signal(n_w + 1), index_signal(n_b + 1), index_signal(n_in + 1)
    column = lambda rows, i: rom_values([r[i] for r in rows] + [0])  # noqa: E731
    in_kind = index_signal(3)
    roms = [rom_driver(w_idx, s["wt_addr"], column(w_entries, 0)),
            rom_driver(w_idx, s["wt_lane"], column(w_entries, 1)),
            rom_driver(w_idx, s["wt_data"], low_bits(column(w_entries, 2), p.weight_bits)),
            rom_driver(b_idx, s["bias_addr"], column(b_entries, 0)),
            rom_driver(b_idx, s["bias_lane"], column(b_entries, 1)),
            rom_driver(b_idx, s["bias_data"], low_bits(column(b_entries, 2), p.membrane_bits)),
            rom_driver(in_idx, in_kind, column(stream, 0)),
            rom_driver(in_idx, s["ev_bank"], column(stream, 1)),
            rom_driver(in_idx, s["ev_c"], column(stream, 2)),
            rom_driver(in_idx, s["ev_y"], column(stream, 3)),
            rom_driver(in_idx, s["ev_x"], column(stream, 4)),
            rom_driver(in_idx, s["ev_value"], column(stream, 5))]
    w_active, b_active, in_active, counting = (Signal(bool(0)) for _ in range(4))
    cycle_count = Signal(intbv(0, min=0, max=1 << 31))
    ev_valid, clear, fire, wt_we, bias_we = (s[n] for n in ("ev_valid", "clear", "fire", "wt_we",
                                                             "bias_we"))
    theta, leak_shift, v0 = s["theta"], s["leak_shift"], s["v0"]
    out_valid, out_addr, fire_done = s["out_valid"], s["out_addr"], s["fire_done"]
    fire_v_valid, fire_v, sop_count = s["fire_v_valid"], s["fire_v"], s["sop_count"]
    theta_value, leak_value, v0_value = config.theta, config.leak_shift, config.v0

    @always_comb
    def strobes():
        wt_we.next = w_active
        bias_we.next = b_active
        clear.next = in_active and in_kind == IN_CLEAR
        ev_valid.next = in_active and in_kind == IN_EVENT
        fire.next = in_active and in_kind == IN_FIRE

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        theta.next = theta_value
        leak_shift.next = leak_value
        v0.next = v0_value
        w_active.next = 1
        for i in range(n_w):
            w_idx.next = i
            yield clk.posedge
        w_active.next = 0
        b_active.next = 1
        for i in range(n_b):
            b_idx.next = i
            yield clk.posedge
        b_active.next = 0
        in_active.next = 1
        for i in range(n_in):
            in_idx.next = i
            yield clk.posedge
            while not ready:
                yield clk.posedge
        in_active.next = 0
        while True:
            yield clk.posedge

    @instance
    def count_cycles():
        while True:
            yield clk.posedge
            if counting:
                cycle_count.next = cycle_count + 1
            elif clear and ready:
                counting.next = 1

    @instance
    def monitor():
        t = 0
        while t < n_steps:
            yield clk.negedge
            if out_valid:
                print("e %d %d" % (t, out_addr))
            if fire_v_valid:
                print("v %d %s" % (t, fire_v))
            if fire_done:
                t += 1
        yield clk.posedge
        yield clk.negedge
        print("c %d" % cycle_count)
        print("s %s" % sop_count)
        print("done")
        raise StopSimulation()

    return dut, roms, strobes, clock, stimulus, count_cycles, monitor


def parse_bench(p: ConvEngineParams, lines: list[str]) -> tuple[dict, int]:
    """The bench's lines back into ``(outputs, cycles)``: ``events`` per timestep in emitted
    order, ``v`` from the last timestep's fired words, and the SOP counter ``sops``."""
    emitted: dict[int, list[int]] = {}
    fired: dict[int, list[int]] = {}
    cycle_count = sops = None
    for line in lines:
        kind, *fields = line.split()
        if kind == "e":
            emitted.setdefault(int(fields[0]), []).append(int(fields[1]))
        elif kind == "v":
            fired.setdefault(int(fields[0]), []).append(int(fields[1], 16))
        elif kind == "c":
            cycle_count = int(fields[0])
        elif kind == "s":
            sops = int(fields[0], 16)
        else:
            raise ValueError(f"unexpected bench line {line!r}")
    n_steps = len(fired)
    if sorted(fired) != list(range(n_steps)) or cycle_count is None or sops is None:
        raise ValueError(f"incomplete bench output ({len(lines)} lines)")
    out = read_back(p, [emitted.get(t, []) for t in range(n_steps)], fired[n_steps - 1])
    return dict(**out, sops=sops), cycle_count


def parse_lines(p: ConvEngineParams, lines: list[str]) -> dict:
    return parse_bench(p, lines)[0]


def run_bench_with_cycles(p, weights, spikes, config) -> tuple[dict, int]:
    """Simulate :func:`testbench` in MyHDL: ``(outputs, cycles)``."""
    return parse_bench(p, toolchain.run_myhdl(testbench(p, weights, spikes, config)))


def run_bench(p, weights, spikes, config) -> dict:
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return run_bench_with_cycles(p, weights, spikes, config)[0]
