"""``twinspike compile --vivado``: the Vivado script cannot run here (no Vivado), so this checks
what can be checked without it: the files the script names exist, the VHDL it adds elaborates
in GHDL, the address map it assigns is the register map's, the pins it connects exist, and
the script is well-formed Tcl that runs to the end of its block-design part in ``tclsh`` with
every Vivado command stubbed (recorded, not executed). Every check runs for both designs the
one generator writes: the IF accelerator (an IF network file; once with every weight on chip
and once with most of them in DDR) and the GLM top (a GLM network file, ``twinspike/glm``).
The IF top's DDR weight master is declared in the wrapper (an AXI4 read-only ``aximm``
master), connected through its own SmartConnect to ``S_AXI_HP1`` and assigned the whole DDR;
the GLM top has none."""
import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from twinspike.cli import main
from twinspike.compile import read_images
from twinspike.glm import deploy
from twinspike.glm import export as glm_export
from twinspike.hw import toolchain
from twinspike.network import save
from twinspike.sw import layer_sequencer as seq
from twinspike.sw.axi import AxiLiteParams
from twinspike.sw.glm_neuron import GlmNeuronParams
from twinspike.sw.register_map import REGISTERS, SPAN
from twinspike.vivado import (ACCELERATOR, CELL, CORE, DDR_BASE, DDR_SIZE, GLM, IP, PS, TOP,
                              WEIGHT_PORT, address_map, entity_ports, write_vivado_project)

from test_glm_top import template_network
from test_layer_sequencer import _residual_net

LANES = 4


def _same_glm_images(a, b) -> bool:
    (pa, wa, ba), (pb, wb, bb) = deploy.read_images(a), deploy.read_images(b)
    return pa == pb and np.array_equal(wa, wb) and np.array_equal(ba, bb)


#: Per design: how to save a small network of it, its image files (and those beside the
#: .mem/.coe pairs), how to compare two compile folders, its parameters as the CLI compiles
#: them.
DESIGNS = {
    "accelerator": SimpleNamespace(
        design=ACCELERATOR, save=lambda path: save(_residual_net(), path), args=[
            "--param", f"lanes={LANES}"], memories=("table", "weight", "bias", "geometry"),
        extra=(), same=lambda a, b: read_images(a) == read_images(b),
        params=lambda out: read_images(out).params),
    "accelerator_ddr": SimpleNamespace(        # 64 weight words on chip, 89 in DDR
        design=ACCELERATOR, save=lambda path: save(_residual_net(), path), args=[
            "--param", f"lanes={LANES}", "--param", "weight_depth=64"],
        memories=("table", "weight", "bias", "geometry"),
        extra=("weight_ddr.mem", "weight_ddr.bin"),
        same=lambda a, b: read_images(a) == read_images(b),
        params=lambda out: read_images(out).params),
    "glm": SimpleNamespace(
        design=GLM, save=lambda path: glm_export.save(template_network(), path), args=[],
        memories=("weight", "bias"), extra=(), same=_same_glm_images,
        params=lambda out: deploy.read_images(out)[0]),
}


@pytest.fixture(scope="module", params=list(DESIGNS))
def project(request, tmp_path_factory):
    """The CLI's output for a small network of each design: ``(compile folder, vivado folder,
    the design's entry of DESIGNS)``."""
    kind = DESIGNS[request.param]
    tmp = tmp_path_factory.mktemp("viv")
    kind.save(tmp / "net")
    out = tmp / "img"
    assert main(["compile", str(tmp / "net.npz"), "--out", str(out), *kind.args,
                 "--vivado", "--clock-mhz", "125"]) == 0
    return out, out / "vivado", kind


def _tcl(viv):
    return (viv / "build.tcl").read_text()


def test_every_file_the_script_names_exists(project):
    out, viv, kind = project
    tcl = _tcl(viv)
    named = [n for n in re.findall(r"\[file join \$script_dir ([^\]\s]+)\]", tcl)
             if "." in n]                     # files (not the project/output folders)
    assert {"hdl/pck_myhdl_011.vhd", f"hdl/{CORE}.vhd", f"hdl/{TOP}.vhd",
            "address_map.json"} <= set(named)
    images = [n for n in named if n.startswith("images/")]
    assert {f"images/{m}.{ext}" for m in kind.memories for ext in ("mem", "coe")} | {
        "images/manifest.json"} | {f"images/{f}" for f in kind.extra} == set(images)
    for name in named:
        assert (viv / name).is_file(), name
    # The images beside the project are the compiled ones.
    assert kind.same(viv / "images", out)
    assert f"set out_name {kind.design.name}\n" in tcl
    assert "set_property FILE_TYPE {VHDL 2008} [get_files $hdl_2008]" in tcl
    assert "create_project $proj_name $proj_dir -part xc7z020clg400-1 -force" in tcl


def test_vhdl_elaborates_and_the_connected_ports_exist(project, ghdl, tmp_path):
    _, viv, kind = project
    files = [viv / "hdl" / f for f in ("pck_myhdl_011.vhd", f"{CORE}.vhd", f"{TOP}.vhd")]
    toolchain.ghdl_elaborate(files, TOP, tmp_path / "work")
    top_ports = {n: (d, w) for n, d, w in entity_ports(files[2].read_text(), TOP)}
    core_ports = entity_ports(files[1].read_text(), CORE)
    # The wrapper has every port of the core (same direction and width) plus TKEEP.
    assert {n: (d, w) for n, d, w in core_ports} == {
        n: v for n, v in top_ports.items() if n != "m_axis_tkeep"}
    assert top_ports["m_axis_tkeep"] == ("out", 4) and top_ports["s_axis_tdata"] == ("in", 8)
    # Every pin and interface the script connects on the accelerator cell exists.
    tcl = _tcl(viv)
    pins = set(re.findall(rf"get_bd_pins {CELL}/(\w+)", tcl))
    assert pins == {"aclk", "aresetn", "interrupt"} and pins <= set(top_ports)
    buses = set(re.findall(rf"get_bd_intf_pins {CELL}/(\w+)", tcl))
    master = kind.design.weight_burst is not None
    assert buses == {"s_axi", "s_axis", "m_axis"} | ({"m_axi"} if master else set())
    wrapper = files[2].read_text()
    for bus in buses:
        assert any(n.startswith(bus + "_") for n in top_ports), bus
        iface = "aximm" if bus in ("s_axi", "m_axi") else "axis"
        assert f'"xilinx.com:interface:{iface}:1.0 {bus} ' in wrapper, bus
    assert f"create_bd_cell -type module -reference {TOP} {CELL}" in tcl
    # The DDR weight master (IF top only): every m_axi_* port is an AXI4 read channel signal
    # of the interface, whose parameters say read-only AXI4, 32-bit addresses, 64-bit data,
    # bursts of a line, on aclk.
    m_ports = sorted(n for n in top_ports if n.startswith("m_axi_"))
    if not master:
        assert not m_ports and "m_axi " not in wrapper and "m_axi," not in wrapper
        return
    assert m_ports and all(n[6:].startswith(("ar", "r")) for n in m_ports)  # AR and R only
    for n in m_ports:
        assert (f'attribute X_INTERFACE_INFO of {n}: signal is "xilinx.com:interface:aximm:1.0 '
                f'm_axi {n[6:].upper()}";') in wrapper, n
    params = re.search(r'X_INTERFACE_PARAMETER of m_axi_\w+: signal is "(XIL_INTERFACENAME '
                       r'm_axi, [^"]*)"', wrapper).group(1)
    fields = dict(f.split(" ", 1) for f in params.split(", "))
    line_words = kind.params(viv / "images").line_words
    assert {k: fields[k] for k in ("PROTOCOL", "READ_WRITE_MODE", "ADDR_WIDTH", "DATA_WIDTH",
                                   "MAX_BURST_LENGTH", "HAS_WSTRB", "HAS_BRESP")} == {
        "PROTOCOL": "AXI4", "READ_WRITE_MODE": "READ_ONLY", "ADDR_WIDTH": "32",
        "DATA_WIDTH": "64", "MAX_BURST_LENGTH": str(line_words), "HAS_WSTRB": "0",
        "HAS_BRESP": "0"}
    assert top_ports["m_axi_araddr"] == ("out", 32) and top_ports["m_axi_rdata"] == ("in", 64)
    assert "ASSOCIATED_BUSIF s_axi:s_axis:m_axis:m_axi," in wrapper


def test_the_weight_master_is_connected_to_hp1(project):
    """The TCL enables HP1 (64 bits), clocks and resets its SmartConnect, and connects the
    cell's m_axi through it to S_AXI_HP1; the GLM design has none of it."""
    _, viv, kind = project
    tcl = _tcl(viv)
    lines = [
        f"CONFIG.PCW_USE_{WEIGHT_PORT} {{1}}", f"CONFIG.PCW_{WEIGHT_PORT}_DATA_WIDTH {{64}}",
        f"[get_bd_pins {PS}/{WEIGHT_PORT}_ACLK] [get_bd_pins smartconnect_hp1/aclk]",
        "[get_bd_pins smartconnect_hp1/aresetn]",
        "set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] "
        "[get_bd_cells smartconnect_hp1]",
        f"connect_bd_intf_net [get_bd_intf_pins {CELL}/m_axi] "
        "[get_bd_intf_pins smartconnect_hp1/S00_AXI]",
        "connect_bd_intf_net [get_bd_intf_pins smartconnect_hp1/M00_AXI] "
        f"[get_bd_intf_pins {PS}/{WEIGHT_PORT}]"]
    if kind.design.weight_burst is None:
        assert "HP1" not in tcl and "m_axi]" not in tcl
        return
    for line in lines:
        assert line in tcl, line
    # HP0 stays the DMA's alone.
    assert re.findall(r"get_bd_intf_pins smartconnect_hp0/S0(\d)_AXI", tcl) == ["0", "1"]


def test_address_map_covers_the_register_map(project):
    out, viv, kind = project
    tcl = _tcl(viv)
    assigned = {seg: (int(off, 16), int(rng, 16), space) for off, rng, space, seg in re.findall(
        r"assign_bd_address -offset (0x[0-9A-F]+) -range (0x[0-9A-F]+) -target_address_space "
        r"\[get_bd_addr_spaces (\S+)\] \[get_bd_addr_segs (\S+)\] -force", tcl)}
    amap = address_map(AxiLiteParams(), kind.design)
    assert assigned == {s.segment: (s.base, s.range, s.master) for s in amap}
    # The DDR weight master sees the whole DDR (the PYNQ-Z2's 512 MiB) through HP1.
    hp1 = f"{PS}/{WEIGHT_PORT}/HP1_DDR_LOWOCM"
    if kind.design.weight_burst is not None:
        assert assigned[hp1] == (0x0000_0000, 0x2000_0000, f"{CELL}/m_axi")
        assert (DDR_BASE, DDR_SIZE) == (0, 512 << 20)
    else:
        assert hp1 not in assigned
    ts = assigned[f"{CELL}/s_axi/reg0"]
    assert ts[1] >= SPAN and ts[1] >= 1 << AxiLiteParams().addr_bits and ts[0] % ts[1] == 0
    assert ts[1] % 4096 == 0
    # No two slaves of the PS overlap.
    gp0 = sorted((b, r) for b, r, m in assigned.values() if m.endswith("processing_system7_0/Data"))
    assert all(b1 + r1 <= b2 for (b1, r1), (b2, _) in zip(gp0, gp0[1:]))
    # Every cell an address segment names is created in the script.
    cells = set(re.findall(r"create_bd_cell -type \w+ (?:-vlnv \S+|-reference \S+) (\w+)", tcl))
    assert {s.cell for s in amap} <= cells
    # The JSON and the C header say the same.
    data = json.loads((viv / "address_map.json").read_text())
    assert data["registers"] == {r.name: r.offset for r in REGISTERS}
    assert data["register_span"] == SPAN and data["clock_mhz"] == 125
    assert data["design"] == kind.design.key
    assert data["params"] == json.loads(json.dumps(kind.design.params_doc(kind.params(out))))
    assert {s["segment"]: s["base"] for s in data["slaves"]} == {s.segment: s.base for s in amap}
    if kind.design.weight_burst is not None:
        assert data["weight_master"] == {
            "interface": f"{CELL}/m_axi", "protocol": "AXI4", "read_only": True,
            "addr_bits": 32, "data_bits": 64, "max_burst": kind.params(out).line_words,
            "port": f"{PS}/{WEIGHT_PORT}", "smartconnect": "smartconnect_hp1",
            "base": 0, "range": 0x2000_0000, "register": "WEIGHT_ADDR"}
        assert {"master": f"{CELL}/m_axi", "segment": hp1, "base": 0,
                "range": 0x2000_0000} in [{k: s[k] for k in ("master", "segment", "base", "range")}
                                         for s in data["slaves"]]
    else:
        assert data["weight_master"] is None
    header = (viv / "twinspike_regs.h").read_text()
    assert "#define TWINSPIKE_BASE 0x43C00000u" in header
    for r in REGISTERS:
        assert f"#define TWINSPIKE_REG_{r.name} 0x{r.offset:02X}u" in header


def test_ip_and_clock_settings(project):
    _, viv, kind = project
    tcl = _tcl(viv)
    for vlnv in IP.values():
        assert f"-vlnv {vlnv} " in tcl
    for setting in ("CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {125}", "CONFIG.PCW_USE_S_AXI_HP0 {1}",
                    "CONFIG.PCW_USE_M_AXI_GP0 {1}", "CONFIG.PCW_USE_FABRIC_INTERRUPT {1}",
                    "CONFIG.PCW_IRQ_F2P_INTR {1}", "CONFIG.c_include_sg {0}",
                    "CONFIG.c_m_axis_mm2s_tdata_width {8}", "CONFIG.c_s_axis_s2mm_tdata_width {32}",
                    "CONFIG.c_sg_length_width {26}"):
        assert setting in tcl, setting
    assert "FREQ_HZ 125000000" in (viv / "hdl" / f"{TOP}.vhd").read_text()
    assert kind.design.title in tcl


def _balanced(text: str) -> bool:
    """Braces and brackets nest (ignoring backslash-escaped ones and those in comments)."""
    stack = []
    pairs = {"}": "{", "]": "["}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        i = 0
        while i < len(line):
            c = line[i]
            if c == "\\":
                i += 2
                continue
            if c in "{[":
                stack.append(c)
            elif c in "}]":
                if not stack or stack.pop() != pairs[c]:
                    return False
            i += 1
    return not stack


def test_tcl_is_well_formed_and_runs_with_stubbed_vivado(project, tmp_path):
    out, viv, kind = project
    tcl = _tcl(viv)
    assert _balanced(tcl)
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        pytest.skip("tclsh not installed (apt-get install tcl): only the bracket check ran")
    # Run the script up to the end of the block design with every Vivado command recorded by
    # `unknown` (so file checks, argument parsing and control flow are real).
    log = tmp_path / "calls.txt"
    driver = tmp_path / "driver.tcl"
    driver.write_text(
        "set fh [open {%s} w]\n"
        "proc unknown {args} { puts $::fh $args; return {} }\n"
        "set argv {--stop-after bd}\nset argc 2\n"
        "source {%s}\nclose $fh\n" % (log, viv / "build.tcl"))
    proc = subprocess.run([tclsh, str(driver)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "stopped after the block design" in proc.stdout
    calls = [line.split(" ", 1) for line in log.read_text().splitlines()]
    verbs = [c[0] for c in calls]
    for verb in ("create_project", "add_files", "create_bd_design", "create_bd_cell",
                 "connect_bd_net", "connect_bd_intf_net", "assign_bd_address",
                 "validate_bd_design", "make_wrapper"):
        assert verb in verbs, verb
    assert "launch_runs" not in verbs                      # stopped after the block design
    assert (viv / "output" / "images" / "weight.mem").is_file()
    for name in kind.extra:                                # the DDR weight image too
        assert (viv / "output" / "images" / name).read_bytes() == (out / name).read_bytes()
    # The weight master's interface, HP1 and its address space were looked up (nested
    # commands run first, so the recorded connect/assign calls show only their results).
    looked_up = {tuple(c) for c in calls if len(c) == 2}
    weight = {("get_bd_intf_pins", f"{CELL}/m_axi"), ("get_bd_intf_pins", f"{PS}/{WEIGHT_PORT}"),
              ("get_bd_addr_spaces", f"{CELL}/m_axi"),
              ("get_bd_addr_segs", f"{PS}/{WEIGHT_PORT}/HP1_DDR_LOWOCM")}
    if kind.design.weight_burst is not None:
        assert weight <= looked_up
    else:
        assert not weight & looked_up
    # A bad argument is refused.
    driver.write_text("proc unknown {args} { return {} }\nset argv {--stop-after nope}\n"
                      "source {%s}\n" % (viv / "build.tcl"))
    proc = subprocess.run([tclsh, str(driver)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "expected bd, synth, impl or bitstream" in proc.stderr


@pytest.mark.parametrize("kind", list(DESIGNS))
def test_bad_clock_is_one_line_exit_2(kind, tmp_path, capsys):
    DESIGNS[kind].save(tmp_path / "net")
    assert main(["compile", str(tmp_path / "net.npz"), "--out", str(tmp_path / "o"),
                 "--vivado", "--clock-mhz", "400"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--clock-mhz" in err[0] and "10..250 MHz" in err[0]
    assert not (tmp_path / "o").exists()


def test_python_api_without_images(tmp_path):
    written = write_vivado_project(tmp_path, seq.AcceleratorParams(lanes=2),
                                   axi_p=AxiLiteParams(addr_bits=13))
    assert written["images"] == [] and written["tcl"].is_file()
    assert "-range 0x00002000" in written["tcl"].read_text()
    with pytest.raises(ValueError, match="expected 10..250 MHz"):
        write_vivado_project(tmp_path, clock_mhz=5)
    # A line is one burst: more than AXI4's 256 beats is refused (by AcceleratorParams itself)
    # before anything is built.
    with pytest.raises(ValueError, match=r"line_words=512 is out of range: expected 2..256"):
        write_vivado_project(tmp_path / "x", seq.AcceleratorParams(line_words=512))
    assert not (tmp_path / "x").exists()


def test_python_api_glm_design(tmp_path):
    """The design follows the parameters' type; images must be made for the same params."""
    p = GlmNeuronParams(n_in=10, n_out=3, n_kernels=1, tau=2, max_steps=4)
    written = write_vivado_project(tmp_path / "a", p)
    assert written["images"] == [] and "set out_name twinspike_glm\n" in written["tcl"].read_text()
    assert json.loads(written["address_map"].read_text())["params"]["tau"] == 2
    net = template_network()
    with pytest.raises(ValueError, match="images: made for other parameters"):
        write_vivado_project(tmp_path / "b", p, net)
    with pytest.raises(TypeError, match="no Vivado design for dict"):
        write_vivado_project(tmp_path / "c", {})
