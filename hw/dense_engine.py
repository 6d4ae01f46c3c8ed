"""MyHDL twin of the dense event engine (semantics and cycle formula in ``sw/dense_engine.py``).

Memories (each a reset-free ``@always(clk.posedge)`` list-of-signals RAM with a registered
read, so Yosys infers block or distributed RAM):

* weight RAM: ``n_in * row_stride`` words of ``lanes * weight_bits``; word ``k`` of source row
  ``j`` is at address ``j . k`` (concatenation, ``row_stride = 2**word_bits``), lane ``i`` in
  bits ``[i*w, (i+1)*w)`` holds ``weights[j, k*lanes + i]`` (0 for padding lanes);
* bias RAM: ``words`` words of ``lanes * membrane_bits``, same lane layout;
* membrane RAM: ``words`` words of ``lanes * membrane_bits``, written back by the pipeline.

Weights and biases are loaded through the write ports ``wt_we/wt_addr/wt_data`` and
``bias_we/bias_addr/bias_data`` before a run; ``v0``, ``theta``, ``leak_shift`` are
configuration inputs.

Command port (valid/ready): ``cmd`` is ``CMD_EVENT`` (source address in ``cmd_addr``, event
value in ``cmd_value``), ``CMD_FIRE``, ``CMD_INIT`` or ``CMD_READ``; a command is accepted on an
edge with ``cmd_valid and cmd_ready``. ``cmd_ready`` is high when idle or on the last word of the
command being issued, so back-to-back commands run without a bubble.

Pipeline: *issue* (registers ``iss_*``) presents word ``k`` to the three RAMs; *execute* gets
the registered RAM words and runs ``lanes`` ``if_lane`` datapaths (EVENT -> ``OP_ACC`` with
the lanes that hold neurons enabled, FIRE -> ``OP_FIRE``, INIT -> ``OP_LOAD`` of ``v0``,
READ -> ``OP_HOLD``) and writes the word back. With ``value_bits > 1`` each lane multiplies
its weight by the command's value (``cmd_value``, registered with the command) before the
lane's adder, which ``if_lane`` widens to the product; with ``value_bits = 1`` the weight
goes straight in and ``cmd_value`` is unused. When execute writes the word that issue reads
in the same cycle (only possible with a single word), the written word is forwarded.

Outputs (registered, one cycle after execute): ``out_valid`` for FIRE and READ words,
``out_read`` (1 = membrane readout), ``out_word`` (k), ``out_spikes`` (the word's spike mask,
padding lanes 0) and ``out_membranes`` (the word after the operation). ``busy`` is high while
either pipeline stage holds a word.
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always, always_comb, always_seq,
                   block, instance, intbv)

from twinspike.hw.common import (address_bits, ram, rom_driver, signed_signal, unpack_lanes,
                                 unsigned_signal)
from twinspike.hw.if_pe_array import (OP_ACC, OP_FIRE, OP_HOLD, OP_LOAD, if_lane,
                                      lane_multiplier, scaled_weight)
from twinspike.sw.dense_engine import DenseEngineParams, DenseLayer, check_run
from twinspike.sw.if_pe_array import LEAK_SHIFT_BITS
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock

Params = DenseEngineParams
CMD_EVENT, CMD_FIRE, CMD_INIT, CMD_READ = 0, 1, 2, 3


@block
def dense_lane(op, lane_on, theta, leak_shift, v0, fwd, value, wt_bits, bias_bits, q_bits,
               fwd_bits, v_out_bits, spike_out, m_bits):
    """One lane of the execute stage: unpacks its slices of the RAM words, picks the membrane
    (RAM or forwarded) and the bias (bias RAM, or ``v0`` on a load), scales the weight by the
    event ``value`` (``lane_multiplier``), runs ``if_lane``."""
    weight = signed_signal(len(wt_bits))
    bias, v_in, v_out = signed_signal(m_bits), signed_signal(m_bits), signed_signal(m_bits)
    spike = Signal(bool(0))
    addend = scaled_weight(weight, value)
    multiplier = lane_multiplier(weight, value, addend)
    lane = if_lane(op, lane_on, addend, bias, theta, leak_shift, v_in, v_out, spike, m_bits)

    @always_comb
    def select():
        weight.next = wt_bits.signed()
        if op == OP_LOAD:
            bias.next = v0
        else:
            bias.next = bias_bits.signed()
        if fwd:
            v_in.next = fwd_bits.signed()
        else:
            v_in.next = q_bits.signed()

    @always_comb
    def pack():
        v_out_bits.next = v_out[m_bits:]
        spike_out.next = spike and lane_on

    return multiplier, lane, select, pack


@block
def lane_enable(on, in_last_word, always_full):
    """``on`` unless this is a padding lane (``always_full`` False) in the last word."""

    @always_comb
    def mask():
        on.next = always_full or not in_last_word

    return mask


@block
def dense_engine(clk, rst, cmd_valid, cmd, cmd_addr, cmd_value, cmd_ready, busy, v0, theta,
                 leak_shift,
                 wt_we, wt_addr, wt_data, bias_we, bias_addr, bias_data,
                 out_valid, out_read, out_word, out_spikes, out_membranes, p: DenseEngineParams):
    if not isinstance(p, DenseEngineParams):
        raise ValueError(f"dense_engine expects DenseEngineParams, got {type(p).__name__}")
    lanes, w, m, words = p.lanes, p.weight_bits, p.membrane_bits, p.words
    last_word = words - 1
    full_lanes = p.n_out - last_word * lanes  # lanes holding a neuron in the last word
    k_bits = address_bits(words)

    # Issue stage.
    iss_valid, ready = Signal(bool(0)), Signal(bool(0))
    iss_cmd, iss_row, k = unsigned_signal(2), unsigned_signal(address_bits(p.n_in)), unsigned_signal(k_bits)
    iss_value, s1_value = unsigned_signal(p.value_bits), unsigned_signal(p.value_bits)
    wt_raddr = ConcatSignal(iss_row, k) if p.word_bits else iss_row
    # Execute stage.
    s1_valid, s1_cmd, s1_k = Signal(bool(0)), unsigned_signal(2), unsigned_signal(k_bits)
    op, in_last_word, fwd = unsigned_signal(2), Signal(bool(0)), Signal(bool(0))
    wt_q, bias_q, v_q = unsigned_signal(lanes * w), unsigned_signal(lanes * m), unsigned_signal(lanes * m)
    fwd_v = unsigned_signal(lanes * m)
    v_bits = [unsigned_signal(m) for _ in range(lanes)]
    spike_bits = [Signal(bool(0)) for _ in range(lanes)]
    lane_on = [Signal(bool(0)) for _ in range(lanes)]
    v_word = ConcatSignal(*reversed(v_bits)) if lanes > 1 else v_bits[0]
    spike_word = ConcatSignal(*reversed(spike_bits)) if lanes > 1 else spike_bits[0]

    memories = [ram(clk, wt_we, wt_addr, wt_data, wt_raddr, wt_q, p.n_in * p.row_stride),
                ram(clk, bias_we, bias_addr, bias_data, k, bias_q, words),
                ram(clk, s1_valid, s1_k, v_word, k, v_q, words)]
    lane_insts = [dense_lane(op, lane_on[i], theta, leak_shift, v0, fwd, s1_value,
                             wt_q((i + 1) * w, i * w), bias_q((i + 1) * m, i * m),
                             v_q((i + 1) * m, i * m), fwd_v((i + 1) * m, i * m),
                             v_bits[i], spike_bits[i], m) for i in range(lanes)]

    enables = [lane_enable(lane_on[i], in_last_word, i < full_lanes) for i in range(lanes)]

    @always_comb
    def control():
        ready.next = not iss_valid or k == last_word
        busy.next = iss_valid or s1_valid
        in_last_word.next = s1_k == last_word
        if s1_cmd == CMD_EVENT:
            op.next = OP_ACC
        elif s1_cmd == CMD_FIRE:
            op.next = OP_FIRE
        elif s1_cmd == CMD_INIT:
            op.next = OP_LOAD
        else:
            op.next = OP_HOLD

    @always_comb
    def drive_ready():
        cmd_ready.next = ready

    @always_seq(clk.posedge, reset=rst)
    def pipeline():
        # Issue: one word per cycle; a new command starts right after the last word.
        if cmd_valid and ready:
            iss_valid.next = 1
            iss_cmd.next = cmd
            iss_row.next = cmd_addr
            iss_value.next = cmd_value
            k.next = 0
        elif iss_valid:
            if k == last_word:
                iss_valid.next = 0
            else:
                k.next = k + 1
        # Execute: takes the issued word; forward when it writes the word issue reads now.
        s1_valid.next = iss_valid
        s1_cmd.next = iss_cmd
        s1_value.next = iss_value
        s1_k.next = k
        fwd.next = s1_valid and iss_valid and s1_k == k
        fwd_v.next = v_word
        # Outputs.
        out_valid.next = s1_valid and (s1_cmd == CMD_FIRE or s1_cmd == CMD_READ)
        out_read.next = s1_cmd == CMD_READ
        out_word.next = s1_k
        out_spikes.next = spike_word
        out_membranes.next = v_word

    return memories, lane_insts, enables, control, drive_ready, pipeline


def ports(p: DenseEngineParams) -> dict:
    m, lanes = p.membrane_bits, p.lanes
    k_bits = address_bits(p.words)
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                cmd_valid=Signal(bool(0)), cmd=unsigned_signal(2),
                cmd_addr=unsigned_signal(address_bits(p.n_in)),
                cmd_value=unsigned_signal(p.value_bits), cmd_ready=Signal(bool(0)),
                busy=Signal(bool(0)), v0=signed_signal(m), theta=signed_signal(m, 1),
                leak_shift=unsigned_signal(LEAK_SHIFT_BITS),
                wt_we=Signal(bool(0)), wt_addr=unsigned_signal(address_bits(p.n_in * p.row_stride)),
                wt_data=unsigned_signal(lanes * p.weight_bits),
                bias_we=Signal(bool(0)), bias_addr=unsigned_signal(k_bits),
                bias_data=unsigned_signal(lanes * m),
                out_valid=Signal(bool(0)), out_read=Signal(bool(0)), out_word=unsigned_signal(k_bits),
                out_spikes=unsigned_signal(lanes), out_membranes=unsigned_signal(lanes * m))


def top(p: DenseEngineParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return dense_engine(p=p, **ports(p))


# ----------------------------------------------------------------------------- host protocol
# What a host (this module's bench, the whole-network runner, a sequencer) sends to and reads
# from the engine's ports: the memory image through the write ports, the command stream, and
# the FIRE / READ output words back into spikes and membranes.

def program(events, values) -> list[tuple[int, int, int]]:
    """The command stream ``(cmd, addr, value)`` of a run: INIT, per timestep its events then
    FIRE, then READ."""
    cmds = [(CMD_INIT, 0, 0)]
    for step, xs in zip(events, values):
        cmds += [(CMD_EVENT, j, x) for j, x in zip(step, xs)] + [(CMD_FIRE, 0, 0)]
    return cmds + [(CMD_READ, 0, 0)]


def memory_load(p: DenseEngineParams, layer: DenseLayer) -> list[tuple[int, int, int, list[int]]]:
    """The write-port cycles that load a layer: ``(weight?, address, lane values)`` rows,
    weight words first (row ``j``, word ``k`` at ``j * row_stride + k``), then bias words."""
    lanes, words = p.lanes, p.words

    def word(values, k):
        return [int(values[k * lanes + i]) if k * lanes + i < p.n_out else 0 for i in range(lanes)]

    rows = [(1, j * p.row_stride + k, word(layer.weights[j], k))
            for j in range(p.n_in) for k in range(words)]
    return rows + [(0, k, word(layer.bias, k)) for k in range(words)]


def read_back(p: DenseEngineParams, fired, read) -> dict:
    """The outputs of one run from its output words: ``fired`` the FIRE words ``(k, spike
    mask)`` in the order the engine gave them (``words`` per timestep, ``k`` ascending), ``read``
    the READ words ``(k, membrane word)``. Returns ``spikes`` int64 ``[T, n_out]`` and
    ``membranes`` int64 ``[n_out]``; raises ``ValueError`` on a word out of order."""
    lanes = p.lanes
    spikes = np.zeros((len(fired) // p.words, p.words * lanes), dtype=np.int64)
    if len(fired) % p.words:
        raise ValueError(f"{len(fired)} FIRE words is not a whole number of timesteps of "
                         f"{p.words} words")
    for n, (k, mask) in enumerate(fired):
        if k != n % p.words:
            raise ValueError(f"FIRE word {k} out of order (expected {n % p.words})")
        spikes[n // p.words, k * lanes:(k + 1) * lanes] = [(mask >> i) & 1 for i in range(lanes)]
    if sorted(k for k, _ in read) != list(range(p.words)):
        raise ValueError(f"READ words {[k for k, _ in read]}, expected 0..{p.words - 1}")
    membranes = np.zeros(p.words * lanes, dtype=np.int64)
    for k, word in read:
        membranes[k * lanes:(k + 1) * lanes] = unpack_lanes(word, lanes, p.membrane_bits)
    return {"spikes": spikes[:, :p.n_out], "membranes": membranes[:p.n_out]}


@block
def testbench(p: DenseEngineParams, layer: DenseLayer, events, values=None):
    """Self-checking bench: loads the memories through the write ports, runs the program of
    ``events`` (with ``values``) and prints each output word as one hex line ``membranes .
    spikes . word . read``, then the cycle count (decimal) from the edge accepting INIT to
    idle."""
    events, values = check_run(p, layer, events, values)
    s = ports(p)
    clk, rst = s["clk"], s["rst"]
    cmd_valid, cmd_ready, busy = s["cmd_valid"], s["cmd_ready"], s["busy"]
    out_valid = s["out_valid"]
    dut = dense_engine(p=p, **s)
    w, m, lanes = p.weight_bits, p.membrane_bits, p.lanes

    load = memory_load(p, layer)
    n_load = len(load)
    ld = Signal(intbv(0, min=0, max=n_load + 1))
    idle = lambda col: tuple(col) + (0,)  # noqa: E731 (entry n_load: write ports idle)
    is_wt = [row[0] for row in load]
    wt_lanes = [unsigned_signal(w) for _ in range(lanes)]
    bias_lanes = [unsigned_signal(m) for _ in range(lanes)]
    roms = [rom_driver(ld, s["wt_we"], idle(is_wt)),
            rom_driver(ld, s["bias_we"], idle(1 - x for x in is_wt)),
            rom_driver(ld, s["wt_addr"], idle(row[1] if row[0] else 0 for row in load)),
            rom_driver(ld, s["bias_addr"], idle(0 if row[0] else row[1] for row in load))]
    for i in range(lanes):
        roms += [rom_driver(ld, wt_lanes[i], idle(row[2][i] & ((1 << w) - 1) if row[0] else 0
                                                  for row in load)),
                 rom_driver(ld, bias_lanes[i], idle(0 if row[0] else row[2][i] & ((1 << m) - 1)
                                                    for row in load))]
    cmds = program(events, values)
    ci = Signal(intbv(0, min=0, max=len(cmds) + 1))
    roms += [rom_driver(ci, s["cmd"], idle(c for c, _, _ in cmds)),
             rom_driver(ci, s["cmd_addr"], idle(a for _, a, _ in cmds)),
             rom_driver(ci, s["cmd_value"], idle(x for _, _, x in cmds))]
    cat = lambda sigs: ConcatSignal(*reversed(sigs)) if len(sigs) > 1 else sigs[0]  # noqa: E731
    wt_word, bias_word = cat(wt_lanes), cat(bias_lanes)
    wt_data, bias_data = s["wt_data"], s["bias_data"]
    v0, theta, leak_shift = s["v0"], s["theta"], s["leak_shift"]
    observed = ConcatSignal(s["out_membranes"], s["out_spikes"], s["out_word"], s["out_read"])
    running = Signal(bool(0))
    cycles = Signal(intbv(0, min=0, max=1 << 30))
    n_cmds, v0_value, theta_value, leak_value = len(cmds), layer.v0, layer.theta, layer.leak_shift

    @always_comb
    def drive():
        wt_data.next = wt_word
        bias_data.next = bias_word
        cmd_valid.next = running and ci < n_cmds
        v0.next = v0_value
        theta.next = theta_value
        leak_shift.next = leak_value

    @always(clk.posedge)
    def feed():
        if cmd_valid and cmd_ready:
            ci.next = ci + 1
        if running and (cmd_valid or busy):
            cycles.next = cycles + 1

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        ld.next = n_load
        yield clk.posedge
        yield clk.negedge
        rst.next = 0
        for i in range(n_load):
            ld.next = i
            yield clk.posedge
            yield clk.negedge
        ld.next = n_load
        running.next = 1
        while True:
            yield clk.posedge
            yield clk.negedge
            if out_valid:
                print(observed)
            if not cmd_valid and not busy:
                break
        print("%d" % cycles)
        print("done")
        raise StopSimulation()

    return dut, roms, drive, feed, clock, stimulus


def parse_lines(p: DenseEngineParams, lines: list[str]) -> dict:
    """The bench's lines (hex ``membranes . spikes . word . read``, then the cycle count) back
    into the reference's outputs."""
    k_bits, lanes = address_bits(p.words), p.lanes
    fired, read = [], []
    for line in lines[:-1]:
        x = int(line, 16)
        k = (x >> 1) & ((1 << k_bits) - 1)
        if x & 1:
            read.append((k, x >> (1 + k_bits + lanes)))
        else:
            fired.append((k, (x >> (1 + k_bits)) & ((1 << lanes) - 1)))
    return {**read_back(p, fired, read), "cycles": int(lines[-1])}


def run_bench(p: DenseEngineParams, layer: DenseLayer, events, values=None) -> dict:
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return parse_lines(p, toolchain.run_myhdl(testbench(p, layer, events, values)))
