"""Memory images as the initial contents of the accelerator's RAMs (issue 11, item 3): a
``hw/common.ram`` with contents in MyHDL and converted (VHDL in GHDL, Verilog in Icarus); the
top built with ``twinspike compile``'s files as its table, weight, bias and geometry contents
runs the digits MLP with only the register writes -- in MyHDL, and converted without initial
values from reset in GHDL, its VHDL reading the ``.mem`` files -- equal to the Cython
evaluator; ``twinspike hdl convert --images``."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from myhdl import Signal, StopSimulation, block, instance

from twinspike.cli import main
from twinspike.compile import read_images
from twinspike.ext.evaluate import evaluate
from twinspike.hw import toolchain
from twinspike.hw import top as ht
from twinspike.hw.common import RamInit, index_signal, ram, unsigned_signal
from twinspike.hw.layer_sequencer import image_init, memory_words
from twinspike.network import save
from twinspike.sw import layer_sequencer as seq
from twinspike.sw import register_map as rm

from test_top import DIGITS, assert_matches

pytestmark = pytest.mark.filterwarnings("ignore:Signal is not driven",
                                        "ignore:Signal is driven but not read",
                                        "ignore:Previously used name being reused")
T = 4
#: ``twinspike compile``'s ``--param`` options for :data:`DIGITS`.
DIGITS_PARAMS = [f"--param={k}={getattr(DIGITS, k)}" for k in (
    "lanes", "weight_depth", "state_depth", "bias_depth", "geometry_depth", "spike_depth",
    "input_depth", "table_depth")]


# ----------------------------------------------------------------------------- one RAM

DEPTH, BITS = 11, 10                    # not a power of two; 3 hex digits hold 12 bits
WORDS = (0x3FF, 5, 0x200, 7)            # fewer than DEPTH: the rest starts at zero


@block
def ram_bench(init: RamInit, with_re: bool):
    """Reads every word, writes one (read-first), holds the output with ``re`` low (when the
    RAM has a read enable) and reads the new word; prints each output."""
    clk, we, rd_en = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    waddr, raddr = index_signal(DEPTH), index_signal(DEPTH)
    wdata, q = unsigned_signal(BITS), unsigned_signal(BITS)
    dut = ram(clk, we, waddr, wdata, raddr, q, DEPTH, rd_en if with_re else None, init=init)
    clock = toolchain.bench_clock(clk)

    @instance
    def stimulus():
        rd_en.next = 1
        for a in range(DEPTH):
            raddr.next = a
            yield clk.posedge
            yield clk.negedge
            print("q %s" % q)
        we.next = 1
        waddr.next = 2
        wdata.next = 0x155
        raddr.next = 2
        yield clk.posedge
        yield clk.negedge
        print("w %s" % q)
        we.next = 0
        rd_en.next = 0
        yield clk.posedge
        yield clk.negedge
        print("h %s" % q)
        rd_en.next = 1
        yield clk.posedge
        yield clk.negedge
        print("n %s" % q)
        print("done")
        raise StopSimulation()

    return dut, clock, stimulus


def ram_expected(with_re: bool) -> list[str]:
    words = list(WORDS) + [0] * (DEPTH - len(WORDS))
    return ([f"q {w:03x}" for w in words] + ["w 200", f"h {0x200 if with_re else 0x155:03x}",
                                             "n 155"])


@pytest.mark.parametrize("with_re", [False, True])
def test_a_ram_with_contents_starts_with_them_in_myhdl_and_in_ghdl(with_re, ghdl, tmp_path):
    mem = tmp_path / "words.mem"
    mem.write_text("".join(f"{w:03x}\n" for w in WORDS))
    init = RamInit(WORDS, str(mem))
    assert toolchain.run_myhdl(ram_bench(init, with_re)) == ram_expected(with_re)
    result = toolchain.verify_vhdl(ram_bench(init, with_re), workdir=tmp_path / "vhdl")
    assert result.ok, result.diff[:2000]
    assert [line.lower() for line in result.ghdl_lines] == ram_expected(with_re)
    vhdl = (tmp_path / "vhdl" / "ram_bench.vhd").read_text()
    assert f'ts_read_mem("{mem}")' in vhdl and "hread(l, digits)" in vhdl


def test_a_ram_with_contents_converts_to_verilog_with_readmemh(need_tool, tmp_path):
    need_tool("iverilog")
    mem = tmp_path / "words.mem"
    mem.write_text("".join(f"{w:03x}\n" for w in WORDS))
    ram_bench(RamInit(WORDS, str(mem)), True).convert(
        hdl="Verilog", path=str(tmp_path), name="ram_bench", initial_values=True)
    verilog = (tmp_path / "ram_bench.v").read_text()
    assert f'$readmemh("{mem}", q_ts_mem, 0, 3);' in verilog
    subprocess.run(["iverilog", "-o", "bench.vvp", "ram_bench.v"], cwd=tmp_path, check=True)
    out = subprocess.run(["vvp", "-n", "bench.vvp"], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    assert toolchain.strip_done(out.split("\n")[:-1], "Icarus") == ram_expected(True)


def test_bad_contents_are_refused(tmp_path):
    clk, we = Signal(bool(0)), Signal(bool(0))
    a, d, q = index_signal(4), unsigned_signal(4), unsigned_signal(4)
    with pytest.raises(ValueError, match="5 words for a RAM of 4"):
        ram(clk, we, a, d, a, q, 4, init=RamInit(range(5), "x.mem"))
    with pytest.raises(ValueError, match="wider than the RAM's 4 bits"):
        ram(clk, we, a, d, a, q, 4, init=RamInit([16], "x.mem"))
    with pytest.raises(ValueError, match="without quotes"):
        RamInit([1], 'a"b.mem')


# ----------------------------------------------------------------------------- the top


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The digits MLP compiled by ``twinspike compile`` for :data:`DIGITS`; the folder, the
    network, the images parsed back from the files, and two test images."""
    from networks import dense_net
    from twinspike.data import load_digits_split

    tmp = tmp_path_factory.mktemp("mlp")
    net = dense_net("direct")
    save(net, tmp / "mlp.npz")
    assert main(["compile", str(tmp / "mlp.npz"), "--out", str(tmp / "images"),
                 *DIGITS_PARAMS]) == 0
    images = read_images(tmp / "images")
    assert images == seq.compile_network(net, DIGITS)
    return tmp / "images", net, images, load_digits_split().x_test[:2]


def test_the_top_with_initial_contents_runs_with_register_writes_only(compiled):
    """MyHDL: the top whose RAMs start with the compiled files' words, given only ``T``,
    ``IMAGES``, ``LAYER_COUNT``, ``TABLE_BASE`` (and ``WEIGHT_ADDR``, ``CONTROL``) -- no
    memory-window write -- equals the reference and the Cython evaluator."""
    folder, net, images, pixels = compiled
    init = image_init(images, folder.resolve())
    assert {name: r.words for name, r in init.rams.items()} == {
        name: tuple(words) for name, words in memory_words(images).items()}
    writes = []

    def scenario(host):
        setup = ht.host_setup(images, T, len(pixels), load=False)
        writes.extend(setup)
        yield from host.writes(setup)
        host.beats += ht.pixel_beats(pixels.reshape(len(pixels), -1))
        yield from host.write(rm.offset("CONTROL"), ht.start_word())
        yield from ht.wait_end(host)
        yield from ht.read_regs(host)

    host = ht.simulate_host(DIGITS, scenario, seed=4, init=init)
    assert {rm.offset(n) for n in ("MEM_SELECT", "MEM_ADDR", "MEM_DATA")}.isdisjoint(
        a for a, _ in writes), "a memory-window write"
    assert {a for a, _ in writes} == {rm.offset(n) for n in (
        "T", "IMAGES", "LAYER_COUNT", "TABLE_BASE", "WEIGHT_ADDR", "CONTROL")}
    records = ht.parse_results(host.results)
    assert_matches(records, host.regs, seq.run(net, images, pixels, T), net.n_outputs)
    fast = evaluate(net, pixels, T)
    np.testing.assert_array_equal([r["class"] for r in records], fast.predictions)
    np.testing.assert_array_equal([r["counts"] for r in records], fast.counts)
    assert host.regs["SOPS"] == int(fast.sops.sum())
    assert (fast.population_spikes > 0).all(), "a silent population would make this vacuous"


def test_the_top_without_contents_does_nothing_with_register_writes_only(compiled):
    """The control: the same writes to the top without ``init`` find no table (BAD_MAGIC)."""
    _, _, images, pixels = compiled

    def scenario(host):
        yield from ht.run_batch(host, images, pixels[:1].reshape(1, -1), T, load=False)

    host = ht.simulate_host(DIGITS, scenario, seed=4)
    assert host.regs["ERROR"] == rm.ERROR["BAD_MAGIC"] and host.results == []


def test_the_converted_top_reads_its_contents_from_the_files_in_ghdl(compiled, ghdl, tmp_path):
    """GHDL: the top converted with ``initial_values`` off and the compiled files as its RAM
    contents (the VHDL reads the ``.mem`` files at elaboration), run from ``aresetn`` by a
    bench that writes only the registers, prints what MyHDL prints, and its results are the
    reference's and the Cython evaluator's. No signal but the four RAMs has an initial
    value."""
    folder, net, images, pixels = compiled
    init = image_init(images, folder.resolve())
    flat = pixels.reshape(len(pixels), -1)
    mine, theirs = ht.run_split_ghdl(images, flat, T, tmp_path, init=init)
    assert [m.lower() for m in mine] == [g.lower() for g in theirs]
    got = ht.parse_lines(theirs)
    assert got["bus_errors"] == []
    assert_matches(got["records"], got["regs"], seq.run(net, images, pixels, T), net.n_outputs)
    fast = evaluate(net, pixels, T)
    np.testing.assert_array_equal([r["class"] for r in got["records"]], fast.predictions)
    np.testing.assert_array_equal([r["counts"] for r in got["records"]], fast.counts)
    # The VHDL: one file-reading block per image RAM, and no other initial value.
    dut = (tmp_path / "dut" / "accelerator_top.vhd").read_text()
    read = re.findall(r'signal ts_mem: t_ts_mem := ts_read_mem\("([^"]+)"\);', dut)
    assert sorted(read) == sorted(str(folder.resolve() / f"{m}.mem")
                                  for m in ("table", "weight", "bias", "geometry"))
    initialised = [ln for ln in dut.splitlines()
                   if ln.lstrip().startswith("signal ") and ":=" in ln]
    assert len(initialised) == 4 and all("ts_read_mem" in ln for ln in initialised)
    # The bench wrote no memory-window register.
    tb = (tmp_path / "tb" / "top_tb.vhd").read_text()
    assert "entity work.accelerator_top" in tb


def test_the_documented_bitstream_recipe_converts_and_elaborates(compiled, ghdl, tmp_path,
                                                                  capsys):
    """docs/accelerator.md, *The network in the bitstream*: ``compile --vivado``, then ``hdl
    convert accelerator_top --images <vivado>/images --out <vivado>/hdl --name
    twinspike_core`` replaces the script's core with one whose RAMs read the images; the
    script's wrapper elaborates with it in GHDL; ``--mem-dir`` names another folder."""
    folder = compiled[0]
    viv = tmp_path / "build"
    assert main(["compile", str(folder.parent / "mlp.npz"), "--out", str(viv), "--vivado",
                 *DIGITS_PARAMS]) == 0
    hdl = viv / "vivado" / "hdl"
    empty = (hdl / "twinspike_core.vhd").read_text()
    assert main(["hdl", "convert", "accelerator_top", "--images", str(viv / "vivado" / "images"),
                 "--out", str(hdl), "--name", "twinspike_core", "--check"]) == 0
    printed = capsys.readouterr().out
    assert "GHDL --std=08 analyse+elaborate: ok" in printed
    assert str((viv / "vivado" / "images" / "weight.mem").resolve()) in printed
    vhdl = (hdl / "twinspike_core.vhd").read_text()
    assert vhdl.count('ts_read_mem("') == 4 and "ts_read_mem" not in empty
    assert re.findall(r"^entity \w+ is", vhdl, re.M) == re.findall(r"^entity \w+ is", empty,
                                                                   re.M)
    toolchain.ghdl_elaborate([hdl / "pck_myhdl_011.vhd", hdl / "twinspike_core.vhd",
                              hdl / "twinspike_top.vhd"], "twinspike_top", tmp_path / "work")
    # --mem-dir: the folder as the VHDL names it (where Vivado will find the files).
    assert main(["hdl", "convert", "accelerator_top", "--images", str(folder), "--out",
                 str(tmp_path / "other"), "--mem-dir", "/srv/build/images", "--hdl",
                 "verilog"]) == 0
    verilog = (tmp_path / "other" / "accelerator_top.v").read_text()
    assert '$readmemh("/srv/build/images/table.mem"' in verilog
    out = tmp_path / "other"
    capsys.readouterr()
    for args, message in (
            (["glm_top"], "--images applies to layer_sequencer or accelerator_top"),
            (["accelerator_top", "--param", "lanes=4"], "the parameters are the images'"),
            (["accelerator_top", "--images", str(tmp_path)], "no such manifest")):
        if "--images" not in args:
            args = args + ["--images", str(folder)]
        assert main(["hdl", "convert", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert main(["hdl", "convert", "lfsr", "--mem-dir", "x", "--out", str(out)]) == 2
    assert "--mem-dir needs --images" in capsys.readouterr().err
