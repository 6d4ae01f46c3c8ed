"""MyHDL twin of the GLM neuron unit (semantics in ``sw/glm_neuron.py``).

Architecture: one **lane** per output neuron (membrane accumulator, bias register, sigmoid LUT
as a ROM tuple, LFSR comparator) and one **sweep** shared by all lanes. Each output timestep
takes ``n_in * n_kernels + 2`` cycles:

* SWEEP, one cycle per (input ``j``, kernel ``k``), ``j`` then ``k`` ascending: at ``k = 0`` the
  unit reads the input bit ``s_j(t-1)`` (``in_addr`` = ``j`` out, ``in_spike`` in, same cycle)
  and shifts it into input ``j``'s ``tau``-bit history (a small RAM); the history and ``k``
  address the **trace ROM** (``p.trace_rom``: the trace filter of every possible history), and
  the sweep counter addresses the **weight RAM** (word ``j * K + k``, bit ``i`` = 1 for
  ``w[i, j, k] = +1``, registered read). Next cycle every lane adds or subtracts the trace.
* DRAIN: the last accumulation lands.
* SAMPLE: lanes look up ``sigmoid_lut`` and compare with their sampler lane (``hw/lfsr.py``,
  reseeded by ``start``, advanced once per timestep); ``step_valid`` marks ``membranes``,
  ``probs`` and ``spikes`` (lane ``i`` in bits ``[i*w, (i+1)*w)``). Two combinational chains
  across the lanes give the lowest spiking index and the membrane argmax (ties to the lowest
  index). On a spike, or at ``t = n_steps``, the unit pulses ``done`` with ``decision``,
  ``decision_step`` and ``fallback`` and returns to idle (early exit); otherwise it starts
  timestep ``t + 1``.

Configuration: ``w_we``/``w_addr``/``w_data`` write a weight word, ``b_we``/``b_addr``/``b_data``
a bias; ``start`` (while idle) begins an inference of ``n_steps`` timesteps (1..max_steps).
"""
import numpy as np
from myhdl import (ConcatSignal, ResetSignal, Signal, StopSimulation, always, always_comb,
                   always_seq, block, concat, enum, instance, intbv)

from twinspike.hw.common import index_signal, rom_driver, signed_signal, unpack_lanes, unsigned_signal
from twinspike.hw import toolchain
from twinspike.hw.toolchain import bench_clock
from twinspike.hw.lfsr import lfsr
from twinspike.sw.common import signed_max, signed_min
from twinspike.sw.glm_neuron import (GlmNeuronParams, check_biases, check_params, check_spikes,
                                     check_weights)

Params = GlmNeuronParams


def kernel_select_bits(p: GlmNeuronParams) -> int:
    return max(1, (p.n_kernels - 1).bit_length())


def trace_rom_words(p: GlmNeuronParams) -> tuple[int, ...]:
    """The trace ROM addressed by ``concat(k, history)``, padded to a power of two."""
    words = list(p.trace_rom)
    return tuple(words + [0] * ((1 << (kernel_select_bits(p) + p.tau)) - len(words)))


def weight_words(p: GlmNeuronParams, weights) -> tuple[int, ...]:
    """Weight RAM contents: word ``j * K + k`` has bit ``i`` set iff ``w[i, j, k] = +1``."""
    w = check_weights(p, weights, "weight_words")
    return tuple(sum(1 << i for i in range(p.n_out) if w[i, j, k] > 0)
                 for j in range(p.n_in) for k in range(p.n_kernels))


@block
def glm_lane(clk, load, acc_en, w_bit, trace, b_we, b_addr, b_data, level, acc, acc_bits, prob,
             spike, index, p: GlmNeuronParams):
    """Output neuron ``index``: ``acc = bias`` on ``load``; ``acc = sat(acc +- trace)`` on
    ``acc_en`` (sign from ``w_bit``); ``prob = sigmoid_lut[...]``, ``spike = level < prob``."""
    m, s, half = p.membrane_bits, p.lut_shift, 1 << (p.lut_in_bits - 1)
    lo, hi, t_max = signed_min(m), signed_max(m), p.max_trace
    # The clamp bounds, kept inside the shifted membrane's own range.
    sh_lo, sh_hi = lo >> s, hi >> s
    clamp_lo, clamp_hi = max(-half, sh_lo), min(half - 1, sh_hi)
    top_index = 2 * half - 1
    bias = signed_signal(p.bias_bits)
    lut_index = unsigned_signal(p.lut_in_bits)

    @always(clk.posedge)
    def bias_register():
        if b_we and b_addr == index:
            bias.next = b_data

    @always(clk.posedge)
    def accumulate():
        total = intbv(0, min=lo - t_max, max=hi + t_max + 1)
        if load:
            acc.next = bias
        elif acc_en:
            if w_bit:
                total[:] = acc + trace
            else:
                total[:] = acc - trace
            if total > hi:
                acc.next = hi
            elif total < lo:
                acc.next = lo
            else:
                acc.next = total

    @always_comb
    def lut_address():
        shifted = intbv(0, min=sh_lo, max=sh_hi + 1)
        shifted[:] = acc >> s
        if shifted < clamp_lo:
            lut_index.next = 0
        elif shifted > clamp_hi:
            lut_index.next = top_index
        else:
            lut_index.next = shifted + half

    sigmoid = rom_driver(lut_index, prob, p.sigmoid_lut)

    @always_comb
    def sample():
        spike.next = level < prob
        acc_bits.next = acc[m:]

    return bias_register, accumulate, lut_address, sigmoid, sample


@block
def decide_stage(spike, acc, found_in, first_in, best_in, argmax_in, found_out, first_out,
                 best_out, argmax_out, index):
    """Lane ``index`` of the two decision chains: lowest spiking index (``found``/``first``)
    and membrane argmax (``best``/``argmax``, strict ``>`` so ties keep the lower index).
    Lane 0 starts the chains (its ``*_in`` are None)."""
    if index == 0:
        @always_comb
        def head():
            found_out.next = spike
            first_out.next = 0
            best_out.next = acc
            argmax_out.next = 0

        return head

    @always_comb
    def chain():
        found_out.next = found_in or spike
        if found_in:
            first_out.next = first_in
        else:
            first_out.next = index
        if acc > best_in:
            best_out.next = acc
            argmax_out.next = index
        else:
            best_out.next = best_in
            argmax_out.next = argmax_in

    return chain


@block
def glm_neuron(clk, rst, w_we, w_addr, w_data, b_we, b_addr, b_data, start, n_steps, in_addr,
               in_spike, busy, step, step_valid, membranes, probs, spikes, done, decision,
               decision_step, fallback, p: GlmNeuronParams):
    check_params(p, "glm_neuron")
    n_in, n_out, n_k, tau = p.n_in, p.n_out, p.n_kernels, p.tau
    m, n_words = p.membrane_bits, p.n_in * p.n_kernels
    last_word, last_kernel = n_words - 1, n_k - 1
    state_t = enum("IDLE", "SWEEP", "DRAIN", "SAMPLE")
    state = Signal(state_t.IDLE)

    j, k, word = index_signal(n_in), Signal(intbv(0)[kernel_select_bits(p):]), index_signal(n_words)
    t, t_last = (Signal(intbv(0, min=0, max=p.max_steps + 1)) for _ in range(2))
    first = Signal(bool(0))
    h_old, h_new, h_cur, h_reg = (unsigned_signal(tau) for _ in range(4))
    hist_we, acc_en, load = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    trace_address = unsigned_signal(kernel_select_bits(p) + tau)
    trace = unsigned_signal(max(1, p.max_trace.bit_length()))
    w_q = unsigned_signal(n_out)
    history = [unsigned_signal(tau) for _ in range(n_in)]
    weight_ram = [unsigned_signal(n_out) for _ in range(n_words)]

    # Sampler: the LFSR bank, reseeded on start, one step per timestep.
    lfsr_rst = ResetSignal(0, active=1, isasync=False)
    lfsr_en = Signal(bool(0))
    lfsr_value = unsigned_signal(p.lfsr_width * n_out)
    sampler = lfsr(clk, lfsr_rst, lfsr_en, lfsr_value, p.sampler)

    acc = [signed_signal(m) for _ in range(n_out)]
    acc_bits = [unsigned_signal(m) for _ in range(n_out)]
    prob = [unsigned_signal(p.lut_out_bits) for _ in range(n_out)]
    spike = [Signal(bool(0)) for _ in range(n_out)]
    w_lo = p.level_shift
    lanes = [glm_lane(clk, load, acc_en, w_q(i), trace, b_we, b_addr, b_data,
                      lfsr_value(i * p.lfsr_width + p.lfsr_width, i * p.lfsr_width + w_lo),
                      acc[i], acc_bits[i], prob[i], spike[i], i, p) for i in range(n_out)]
    found = [Signal(bool(0)) for _ in range(n_out)]
    first_idx, argmax = ([index_signal(n_out) for _ in range(n_out)] for _ in range(2))
    best = [signed_signal(m) for _ in range(n_out)]
    chain = [decide_stage(spike[i], acc[i], *((found[i - 1], first_idx[i - 1], best[i - 1],
                                               argmax[i - 1]) if i else (None,) * 4),
                          found[i], first_idx[i], best[i], argmax[i], i) for i in range(n_out)]
    any_spike, first_spike, best_index = found[-1], first_idx[-1], argmax[-1]

    trace_rom = rom_driver(trace_address, trace, trace_rom_words(p))
    cat = lambda sigs: ConcatSignal(*reversed(sigs)) if len(sigs) > 1 else sigs[0]  # noqa: E731
    flat_acc, flat_prob, flat_spike = cat(acc_bits), cat(prob), cat(spike)

    @always(clk.posedge)
    def weight_memory():
        if w_we:
            weight_ram[w_addr].next = w_data
        w_q.next = weight_ram[word]

    @always(clk.posedge)
    def history_write():
        if hist_we:
            history[j].next = h_new

    @always_comb
    def history_read():
        h_old.next = history[j]

    @always_comb
    def history_shift():
        shifted = intbv(0)[tau + 1:]
        if first:
            shifted[:] = 0
        else:
            shifted[:] = h_old
        shifted[:] = shifted << 1
        shifted[0] = in_spike
        h_new.next = shifted[tau:]

    @always_comb
    def sweep_select():
        if k == 0:
            h_cur.next = h_new
        else:
            h_cur.next = h_reg
        hist_we.next = state == state_t.SWEEP and k == 0
        load.next = (state == state_t.IDLE and start) or state == state_t.SAMPLE
        lfsr_en.next = state == state_t.SAMPLE
        lfsr_rst.next = rst or (state == state_t.IDLE and start)

    @always_comb
    def outputs():
        in_addr.next = j
        busy.next = state != state_t.IDLE
        step.next = t
        step_valid.next = state == state_t.SAMPLE
        membranes.next = flat_acc
        probs.next = flat_prob
        spikes.next = flat_spike

    @always_seq(clk.posedge, reset=rst)
    def control():
        done.next = 0
        acc_en.next = 0
        if state == state_t.IDLE:
            if start:
                t.next = 1
                t_last.next = n_steps
                first.next = 1
                j.next = 0
                k.next = 0
                word.next = 0
                state.next = state_t.SWEEP
        elif state == state_t.SWEEP:
            acc_en.next = 1
            trace_address.next = concat(k, h_cur)
            if k == 0:
                h_reg.next = h_new
            if word == last_word:
                j.next = 0
                k.next = 0
                word.next = 0
                state.next = state_t.DRAIN
            else:
                word.next = word + 1
                if k == last_kernel:
                    k.next = 0
                    j.next = j + 1
                else:
                    k.next = k + 1
        elif state == state_t.DRAIN:
            state.next = state_t.SAMPLE
        else:
            first.next = 0
            if any_spike or t >= t_last:
                done.next = 1
                decision_step.next = t
                if any_spike:
                    decision.next = first_spike
                    fallback.next = 0
                else:
                    decision.next = best_index
                    fallback.next = 1
                state.next = state_t.IDLE
            else:
                t.next = t + 1
                state.next = state_t.SWEEP

    return (sampler, lanes, chain, trace_rom, weight_memory, history_write, history_read,
            history_shift, sweep_select, outputs, control)


def ports(p: GlmNeuronParams) -> dict:
    check_params(p, "ports")
    steps = lambda: Signal(intbv(0, min=0, max=p.max_steps + 1))  # noqa: E731
    return dict(clk=Signal(bool(0)), rst=ResetSignal(0, active=1, isasync=False),
                w_we=Signal(bool(0)), w_addr=index_signal(p.n_in * p.n_kernels),
                w_data=unsigned_signal(p.n_out),
                b_we=Signal(bool(0)), b_addr=index_signal(p.n_out),
                b_data=signed_signal(p.bias_bits),
                start=Signal(bool(0)), n_steps=steps(), in_addr=index_signal(p.n_in),
                in_spike=Signal(bool(0)), busy=Signal(bool(0)), step=steps(),
                step_valid=Signal(bool(0)), membranes=unsigned_signal(p.n_out * p.membrane_bits),
                probs=unsigned_signal(p.n_out * p.lut_out_bits), spikes=unsigned_signal(p.n_out),
                done=Signal(bool(0)), decision=index_signal(p.n_out), decision_step=steps(),
                fallback=unsigned_signal(1))


def top(p: GlmNeuronParams):
    """The block with fresh ports, ready to convert or synthesise."""
    return glm_neuron(p=p, **ports(p))


@block
def testbench(p: GlmNeuronParams, weights, biases, spikes):
    """Self-checking bench: loads the weight RAM and the biases, then runs one inference per
    spike-train set of ``spikes`` ``(runs, T, n_in)``. At every SAMPLE cycle it prints three
    hex words (``membranes``, ``probs``, ``spikes``), and when ``done`` pulses one line
    ``decision step fallback`` in decimal."""
    s_in = check_spikes(p, spikes, "testbench")
    if s_in.ndim != 3:
        raise ValueError(f"testbench.spikes must have shape (runs, T, {p.n_in}), got {s_in.shape}")
    n_runs, n_steps_run = s_in.shape[:2]
    words = weight_words(p, weights)
    bias_values = tuple(int(b) for b in check_biases(p, biases, "testbench"))
    n_words, n_in = len(words), p.n_in
    # Frame of (run r, step t) at (r * T + t) * n_in: a leading empty frame makes t 1-based.
    spike_rom = (0,) * n_in + tuple(int(x) for x in s_in.ravel())
    s = ports(p)
    dut = glm_neuron(p=p, **s)
    clk, rst, start, done, busy = s["clk"], s["rst"], s["start"], s["done"], s["busy"]
    w_we, w_addr, w_data = s["w_we"], s["w_addr"], s["w_data"]
    b_we, b_addr, b_data = s["b_we"], s["b_addr"], s["b_data"]
    n_steps, step, in_addr = s["n_steps"], s["step"], s["in_addr"]
    step_valid, membranes, probs, spikes_out = s["step_valid"], s["membranes"], s["probs"], s["spikes"]
    decision, decision_step, fallback = s["decision"], s["decision_step"], s["fallback"]
    run_base = Signal(intbv(0, min=0, max=len(spike_rom)))
    spike_address = Signal(intbv(0, min=0, max=len(spike_rom)))
    feed = rom_driver(spike_address, s["in_spike"], spike_rom)

    @always_comb
    def frame_select():
        if busy:
            spike_address.next = run_base + step * n_in + in_addr
        else:
            spike_address.next = 0

    clock = bench_clock(clk)

    @instance
    def stimulus():
        rst.next = 1
        yield clk.negedge
        rst.next = 0
        for a in range(n_words):
            w_we.next = 1
            w_addr.next = a
            w_data.next = words[a]
            yield clk.negedge
        w_we.next = 0
        for i in range(p.n_out):
            b_we.next = 1
            b_addr.next = i
            b_data.next = bias_values[i]
            yield clk.negedge
        b_we.next = 0
        for r in range(n_runs):
            run_base.next = r * n_steps_run * n_in
            n_steps.next = n_steps_run
            start.next = 1
            yield clk.negedge
            start.next = 0
            while not done:
                yield clk.negedge
        yield clk.negedge
        print("done")
        raise StopSimulation()

    @instance
    def monitor():
        while True:
            yield clk.negedge
            if step_valid:
                print(membranes)
                print(probs)
                print(spikes_out)
            if done:
                print("%d %d %d" % (decision, decision_step, fallback))

    return dut, feed, frame_select, clock, stimulus, monitor


def parse_lines(p: GlmNeuronParams, lines: list[str]) -> list[dict]:
    """Per run: three hex words per timestep, then ``decision step fallback``."""
    results, rows = [], []
    lines = iter(lines)
    for line in lines:
        if " " in line:
            decision, step, fallback = (int(x) for x in line.split())
            u, q, o = (np.asarray(col, dtype=np.int64).reshape(len(rows), p.n_out)
                       for col in zip(*rows)) if rows else (np.zeros((0, p.n_out), np.int64),) * 3
            results.append(dict(membranes=u, probs=q, spikes=o.astype(np.uint8),
                                decision=decision, step=step, fallback=fallback))
            rows = []
        else:
            u = unpack_lanes(int(line, 16), p.n_out, p.membrane_bits, True)
            q = unpack_lanes(int(next(lines), 16), p.n_out, p.lut_out_bits, False)
            o = unpack_lanes(int(next(lines), 16), p.n_out, 1, False)
            rows.append((u, q, o))
    return results


def run_bench(p: GlmNeuronParams, weights, biases, spikes):
    """Simulate :func:`testbench` in MyHDL and parse what it printed."""
    return parse_lines(p, toolchain.run_myhdl(testbench(p, weights, biases, spikes)))
