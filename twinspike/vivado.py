"""``twinspike compile --vivado``: a Vivado project script for the PYNQ-Z2 (xc7z020clg400-1).

:func:`write_vivado_project` writes a folder that Vivado turns into a bitstream and the
hardware handoff PYNQ loads, for either top -- the :class:`Design` is chosen by the type of
the parameters: :data:`ACCELERATOR` (``AcceleratorParams``: the IF accelerator, ``hw/top.py``,
with compiled ``Images``) or :data:`GLM` (``GlmNeuronParams``: the GLM unit generated for
them, ``hw/glm_top.py``, with a ``GlmNetwork``). Both tops have the same ports, register map
and stream conventions, so everything below is shared; a design only names its top, its
images writer, its parameters' JSON form, the MM2S stream width and the default output
name::

    OUT/build.tcl            vivado -mode batch -source build.tcl [-tclargs --stop-after bd]
    OUT/hdl/pck_myhdl_011.vhd, twinspike_core.vhd   the converted top (VHDL-2008)
    OUT/hdl/twinspike_top.vhd  a plain-VHDL wrapper: std_logic_vector ports, Vivado interface
                               attributes (X_INTERFACE_INFO), TKEEP for the DMA
    OUT/address_map.json      every AXI slave's base and range, the register offsets, the
                              design and its parameters (the build record)
    OUT/twinspike_regs.h      the same offsets for C on the board
    OUT/images/               the compiled memory images (when given), copied beside the
                              bitstream by the script

The block design: ``processing_system7`` (FCLK_CLK0 at ``clock_mhz``, M_AXI_GP0, S_AXI_HP0,
IRQ_F2P), the accelerator as a module reference, an AXI DMA without scatter-gather (MM2S:
the input stream -- pixels or spike trains -- into ``s_axis``, S2MM: result words from
``m_axis``), two SmartConnects (GP0 to the three AXI4-Lite slaves, the DMA's two masters to
HP0), ``proc_sys_reset``, and an AXI interrupt controller fed by an ``xlconcat`` of the
accelerator's and the DMA's interrupts (PYNQ handles only interrupts that reach
``IRQ_F2P[0]``, several through an ``axi_intc``).
The IF design also has the sequencer's **DDR weight master** (``m_axi``: AXI4, read only,
32-bit addresses, 64-bit data, INCR bursts of ``line_words`` beats): the wrapper declares it
as an ``aximm`` master (``READ_WRITE_MODE READ_ONLY``: it has no write channels), and a third
SmartConnect (AXI4 to the HP port's AXI3, bursts over 16 beats split) takes it to
:data:`WEIGHT_PORT` (``S_AXI_HP1``, 64 bits) -- a port of its own rather than a third slave on
the DMA's SmartConnect, so a weight-line fill (the whole sequencer stalls on it) never queues
behind a DMA burst in the PL; its address segment is the whole DDR
(:data:`DDR_BASE`, :data:`DDR_SIZE`: the PYNQ-Z2's 512 MiB).
The address map is :func:`address_map` (one place; the TCL, the JSON and the header are
written from it); the accelerator's range is its ``AxiLiteParams.addr_bits`` window, which
holds the register map (``sw/register_map.SPAN``).

Nothing here runs Vivado (none is installed where this was written): ``tests/test_vivado.py``
checks what can be checked without it.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from twinspike.atomic import write_text
from twinspike.hw import toolchain
from twinspike.sw.axi import AxiLiteParams
from twinspike.sw.glm_neuron import GlmNeuronParams
from twinspike.sw.layer_sequencer import AcceleratorParams
from twinspike.sw.register_map import REGISTERS, SPAN, VERSION_WORD

__all__ = ["PART", "BOARD_PART", "IP", "Slave", "Design", "ACCELERATOR", "GLM", "design_for",
           "address_map", "entity_ports", "wrapper_vhdl", "build_tcl", "write_vivado_project",
           "check_clock", "CLOCK_RANGE_MHZ", "ADDRESS_MAP_FILE", "DDR_BASE", "DDR_SIZE",
           "WEIGHT_PORT", "WEIGHT_MASTER"]

PART = "xc7z020clg400-1"
BOARD_PART = "tul.com.tw:pynq-z2:part0:1.0"
CORE = "twinspike_core"          # the MyHDL conversion's entity
TOP = "twinspike_top"            # the wrapper: the module reference
CELL = "twinspike_0"             # its block-design cell (PYNQ: overlay.twinspike_0)
PS = "processing_system7_0"
DMA = "axi_dma_0"
INTC = "axi_intc_0"
BD = "twinspike_bd"
#: The build record beside the script and the bitstream (the address map, the registers, the
#: design and its parameters; ``twinspike/board.py`` reads the GLM one).
ADDRESS_MAP_FILE = "address_map.json"
#: FCLK_CLK0 limits accepted by --clock-mhz (the PS7 fabric clocks reach 250 MHz).
CLOCK_RANGE_MHZ = (10.0, 250.0)
#: The DDR every PL master sees through an HP port: the PYNQ-Z2's 512 MiB from 0.
DDR_BASE, DDR_SIZE = 0x0000_0000, 0x2000_0000
#: The PS7 slave port of the IF top's DDR weight master (HP0 carries the DMA), its
#: SmartConnect and the master's interface on the accelerator cell.
WEIGHT_PORT = "S_AXI_HP1"
WEIGHT_SMARTCONNECT = "smartconnect_hp1"
WEIGHT_MASTER = "m_axi"
#: An AXI4 burst has at most 256 beats (the weight master's ARLEN is 8 bits).
MAX_AXI4_BURST = 256

#: Vivado IP catalogue names (VLNV) of every IP the block design instantiates.
IP = {
    "ps7": "xilinx.com:ip:processing_system7:5.5",
    "dma": "xilinx.com:ip:axi_dma:7.1",
    "smartconnect": "xilinx.com:ip:smartconnect:1.0",
    "reset": "xilinx.com:ip:proc_sys_reset:5.0",
    "concat": "xilinx.com:ip:xlconcat:2.1",
    "intc": "xilinx.com:ip:axi_intc:4.1",
}


def _accelerator_top(p, axi_p):
    from twinspike.hw.top import top         # MyHDL is imported only when a design is built
    return top(p, axi_p)


def _accelerator_images(images, out_dir, network_files) -> Path:
    from twinspike.compile import write_images
    return write_images(images, out_dir, network_files)


def _glm_top(p, axi_p):
    from twinspike.hw.glm_top import top
    return top(p, axi_p)


def _glm_images(network, out_dir, network_files) -> Path:
    from twinspike.glm.deploy import write_images
    return write_images(network, out_dir, network_files)


def _glm_params_doc(p) -> dict:
    from twinspike.glm.export import _params_doc
    return _params_doc(p)


@dataclass(frozen=True)
class Design:
    """What differs between the tops the script builds: ``key`` (``address_map.json``'s
    ``design``), ``title`` (the script's first line), ``params_type``, ``top(params, axi_p)``
    (the MyHDL top to convert), ``write_images(images, dir, network_files)`` (the images
    folder, returns its manifest), ``params_doc(params)`` (JSON form), ``input_bits(params)``
    (the ``s_axis`` data bits: the MM2S stream is that rounded up to bytes), ``input_name``
    and ``name`` (the default output base name); ``weight_burst(params)``: the longest burst
    of the top's DDR weight master (``m_axi``, to :data:`WEIGHT_PORT`), None for a top
    without one."""
    key: str
    title: str
    params_type: type
    top: Callable
    write_images: Callable
    params_doc: Callable
    input_bits: Callable
    input_name: str
    name: str
    weight_burst: Callable | None = None


ACCELERATOR = Design("accelerator", "the twinspike IF accelerator (hw/top.py)", AcceleratorParams,
                     _accelerator_top, _accelerator_images, asdict, lambda p: p.input_bits,
                     "pixels", "twinspike", lambda p: p.line_words)
GLM = Design("glm", "the twinspike GLM unit (hw/glm_top.py, generated for the network's "
             "GlmNeuronParams)", GlmNeuronParams, _glm_top, _glm_images, _glm_params_doc,
             lambda p: 8, "spike trains", "twinspike_glm")
DESIGNS = (ACCELERATOR, GLM)


def design_for(params) -> Design:
    """The design of ``params``' type (``AcceleratorParams`` or ``GlmNeuronParams``)."""
    for d in DESIGNS:
        if isinstance(params, d.params_type):
            return d
    raise TypeError(f"no Vivado design for {type(params).__name__}: expected "
                    f"{' or '.join(d.params_type.__name__ for d in DESIGNS)}")


@dataclass(frozen=True)
class Slave:
    """One slave segment in an address space: ``master`` (an address space, e.g.
    ``processing_system7_0/Data``) sees ``segment`` (``cell/interface/block``) at
    ``base .. base + range - 1``."""
    name: str
    master: str
    segment: str
    base: int
    range: int

    @property
    def cell(self) -> str:
        return self.segment.split("/")[0]


def _window(axi_p: AxiLiteParams) -> int:
    """The accelerator's range: its address window, at least 4 KiB (Vivado's minimum)."""
    return max(4096, 1 << axi_p.addr_bits)


def address_map(axi_p: AxiLiteParams = AxiLiteParams(),
                design: Design = ACCELERATOR) -> tuple[Slave, ...]:
    """Every address segment the block design of ``design`` assigns (the one place they are
    stated)."""
    gp0 = f"{PS}/Data"
    ddr = f"{PS}/S_AXI_HP0/HP0_DDR_LOWOCM"
    amap = (
        Slave("twinspike", gp0, f"{CELL}/s_axi/reg0", 0x43C0_0000, _window(axi_p)),
        Slave("dma", gp0, f"{DMA}/S_AXI_LITE/Reg", 0x4040_0000, 0x1_0000),
        Slave("intc", gp0, f"{INTC}/S_AXI/Reg", 0x4180_0000, 0x1_0000),
        # The PYNQ-Z2's 512 MiB of DDR, as the DMA's two masters see it through HP0.
        Slave("ddr_mm2s", f"{DMA}/Data_MM2S", ddr, DDR_BASE, DDR_SIZE),
        Slave("ddr_s2mm", f"{DMA}/Data_S2MM", ddr, DDR_BASE, DDR_SIZE),
    )
    if design.weight_burst is not None:
        # The same DDR as the IF top's weight master sees it through HP1 (WEIGHT_ADDR and the
        # driver's buffer must lie inside it).
        port = WEIGHT_PORT.split("_")[-1]                      # HP1
        amap += (Slave("ddr_weights", f"{CELL}/{WEIGHT_MASTER}",
                       f"{PS}/{WEIGHT_PORT}/{port}_DDR_LOWOCM", DDR_BASE, DDR_SIZE),)
    return amap


def check_clock(clock_mhz: float) -> float:
    lo, hi = CLOCK_RANGE_MHZ
    if not lo <= clock_mhz <= hi:
        raise ValueError(f"clock {clock_mhz:g} MHz is out of range: expected {lo:g}..{hi:g} MHz "
                         "(FCLK_CLK0 of the Zynq-7000 PS)")
    return clock_mhz


# ----------------------------------------------------------------------------- the wrapper

_PORT = re.compile(r"^\s*(\w+)\s*:\s*(in|out)\s+(std_logic|unsigned\((\d+)\s+downto\s+0\))\s*;?\s*$",
                   re.IGNORECASE)


def entity_ports(vhdl: str, entity: str) -> list[tuple[str, str, int | None]]:
    """``(name, 'in'|'out', width or None for std_logic)`` of ``entity``'s ports in ``vhdl``
    text (the simple port lists MyHDL and :func:`wrapper_vhdl` write)."""
    m = re.search(rf"entity\s+{entity}\s+is\s+port\s*\((.*?)\n\s*\);",
                  vhdl, re.IGNORECASE | re.DOTALL)
    if m is None:
        raise ValueError(f"no entity {entity} with a port list in the VHDL")
    ports = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line:
            continue
        line = re.sub(r"std_logic_vector", "unsigned", line, flags=re.IGNORECASE)
        pm = _PORT.match(line)
        if pm is None:
            raise ValueError(f"entity {entity}: cannot read port declaration {line!r}")
        name, direction, _, hi = pm.groups()
        ports.append((name, direction.lower(), None if hi is None else int(hi) + 1))
    return ports


def _interface(name: str) -> tuple[str, str] | None:
    """``(interface VLNV, bus name)`` of a port by its prefix, or None."""
    for prefix, vlnv in (("s_axis_", "xilinx.com:interface:axis:1.0"),
                         ("m_axis_", "xilinx.com:interface:axis:1.0"),
                         ("s_axi_", "xilinx.com:interface:aximm:1.0"),
                         (f"{WEIGHT_MASTER}_", "xilinx.com:interface:aximm:1.0")):
        if name.startswith(prefix):
            return vlnv, prefix[:-1]
    return None


def _weight_master_parameter(widths: dict, burst: int, freq: int) -> str:
    """The ``X_INTERFACE_PARAMETER`` of the DDR weight master: AXI4, read only (no write
    channel ports: ``READ_WRITE_MODE READ_ONLY``), no IDs, one burst in flight."""
    return (f"XIL_INTERFACENAME {WEIGHT_MASTER}, PROTOCOL AXI4, READ_WRITE_MODE READ_ONLY, "
            f"ADDR_WIDTH {widths[WEIGHT_MASTER + '_araddr']}, "
            f"DATA_WIDTH {widths[WEIGHT_MASTER + '_rdata']}, ID_WIDTH 0, ARUSER_WIDTH 0, "
            "RUSER_WIDTH 0, HAS_BURST 1, HAS_CACHE 1, HAS_PROT 1, HAS_LOCK 0, HAS_QOS 0, "
            "HAS_REGION 0, HAS_RRESP 1, HAS_BRESP 0, HAS_WSTRB 0, SUPPORTS_NARROW_BURST 0, "
            f"MAX_BURST_LENGTH {burst}, NUM_READ_OUTSTANDING 1, NUM_WRITE_OUTSTANDING 0, "
            f"FREQ_HZ {freq}")


def wrapper_vhdl(core_ports: list[tuple[str, str, int | None]], axi_p: AxiLiteParams,
                 clock_mhz: float, weight_burst: int | None = None) -> str:
    """The module-reference top: plain VHDL (Vivado wants std_logic/std_logic_vector ports and
    no VHDL-2008 at a module reference's top), every port named as in the core, the AXI
    interfaces (``s_axi``, ``s_axis``, ``m_axis`` and, when the core has ``m_axi_*`` ports,
    the DDR weight master ``m_axi`` with bursts of up to ``weight_burst`` beats), clock,
    reset and interrupt declared with X_INTERFACE_INFO, and ``m_axis_tkeep`` (all ones) for
    the DMA's S2MM stream."""
    widths = {n: w for n, _, w in core_ports}
    result_bytes = -(-widths["m_axis_tdata"] // 8)
    master = any(n.startswith(WEIGHT_MASTER + "_") for n in widths)
    if master and weight_burst is None:
        raise ValueError(f"the core has an {WEIGHT_MASTER} master: give its weight_burst")
    ports = list(core_ports) + [("m_axis_tkeep", "out", result_bytes)]

    def typ(w):
        return "std_logic" if w is None else f"std_logic_vector({w - 1} downto 0)"

    decl = ";\n".join(f"        {n}: {d} {typ(w)}" for n, d, w in ports)
    sigs = "\n".join(f"    signal core_{n}: unsigned({w - 1} downto 0);"
                     for n, _, w in core_ports if w is not None)
    conv = []
    for n, d, w in core_ports:
        if w is None:
            continue
        conv.append(f"    core_{n} <= unsigned({n});" if d == "in"
                    else f"    {n} <= std_logic_vector(core_{n});")
    pmap = ",\n".join(f"            {n} => {n if w is None else 'core_' + n}"
                      for n, _, w in core_ports)
    freq = int(round(clock_mhz * 1e6))
    buses = "s_axi:s_axis:m_axis" + (f":{WEIGHT_MASTER}" if master else "")
    attrs = [
        ("aclk", "xilinx.com:signal:clock:1.0 aclk CLK",
         f"XIL_INTERFACENAME aclk, ASSOCIATED_BUSIF {buses}, "
         f"ASSOCIATED_RESET aresetn, FREQ_HZ {freq}"),
        ("aresetn", "xilinx.com:signal:reset:1.0 aresetn RST",
         "XIL_INTERFACENAME aresetn, POLARITY ACTIVE_LOW"),
        ("interrupt", "xilinx.com:signal:interrupt:1.0 interrupt INTERRUPT",
         "XIL_INTERFACENAME interrupt, SENSITIVITY LEVEL_HIGH, PortWidth 1"),
    ]
    first = {"s_axi": f"XIL_INTERFACENAME s_axi, PROTOCOL AXI4LITE, DATA_WIDTH 32, "
                      f"ADDR_WIDTH {axi_p.addr_bits}, HAS_PROT 0, FREQ_HZ {freq}",
             "s_axis": f"XIL_INTERFACENAME s_axis, TDATA_NUM_BYTES "
                       f"{-(-widths['s_axis_tdata'] // 8)}, HAS_TLAST 1, HAS_TKEEP 0, "
                       f"HAS_TREADY 1, FREQ_HZ {freq}",
             "m_axis": f"XIL_INTERFACENAME m_axis, TDATA_NUM_BYTES {result_bytes}, HAS_TLAST 1, "
                       f"HAS_TKEEP 1, HAS_TREADY 1, FREQ_HZ {freq}"}
    if master:
        first[WEIGHT_MASTER] = _weight_master_parameter(widths, weight_burst, freq)
    for n, _, _ in ports:
        iface = _interface(n)
        if iface is None:
            continue
        vlnv, bus = iface
        signal = n[len(bus) + 1:].upper()
        attrs.append((n, f"{vlnv} {bus} {signal}", first.pop(bus, None)))
    attr_text = "\n".join(
        f'    attribute X_INTERFACE_INFO of {n}: signal is "{info}";'
        + (f'\n    attribute X_INTERFACE_PARAMETER of {n}: signal is "{param}";' if param else "")
        for n, info, param in attrs)
    return f"""-- Generated by twinspike/vivado.py (`twinspike compile --vivado`): the block design's
-- module reference. Plain VHDL with std_logic_vector ports around the converted top
-- ({CORE}, VHDL-2008); the attributes tell Vivado the AXI interfaces, clock, reset and
-- interrupt.
library ieee;
use ieee.std_logic_1164.all;
use ieee.numeric_std.all;

entity {TOP} is
    port (
{decl}
    );
    -- In the entity (where VHDL allows attributes of ports; GHDL checks it).
    attribute X_INTERFACE_INFO: string;
    attribute X_INTERFACE_PARAMETER: string;
{attr_text}
end entity {TOP};

architecture rtl of {TOP} is
{sigs}
begin
{chr(10).join(conv)}
    m_axis_tkeep <= (others => '1');

    core: entity work.{CORE}
        port map (
{pmap}
        );
end architecture rtl;
"""


# ----------------------------------------------------------------------------- the script

def _hex(v: int) -> str:
    return f"0x{v:08X}"


def build_tcl(p, axi_p: AxiLiteParams, clock_mhz: float, name: str,
              hdl_2008: list[str], hdl_wrapper: str, image_files: list[str]) -> str:
    """The Vivado batch script (paths relative to the script's folder) for the design of
    ``p`` (:func:`design_for`)."""
    design = design_for(p)
    pixel_bits = -(-design.input_bits(p) // 8) * 8
    amap = address_map(axi_p, design)
    weights = design.weight_burst is not None
    hp = WEIGHT_PORT.split("_")[-1]                            # HP1
    sc = WEIGHT_SMARTCONNECT
    w_comment = (f"#   {CELL}/{WEIGHT_MASTER} (DDR weight master) -> {WEIGHT_PORT}: "
                 f"{_hex(DDR_BASE)} .. {_hex(DDR_BASE + DDR_SIZE - 1)}  the whole DDR\n"
                 if weights else "")
    w_config = (f"    CONFIG.PCW_USE_{WEIGHT_PORT} {{1}} \\\n"
                f"    CONFIG.PCW_{WEIGHT_PORT}_DATA_WIDTH {{64}} \\\n" if weights else "")
    w_cells = (f"create_bd_cell -type ip -vlnv {IP['smartconnect']} {sc}\n"
               f"set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] "
               f"[get_bd_cells {sc}]\n" if weights else "")
    w_clock = (f" \\\n    [get_bd_pins {PS}/{WEIGHT_PORT}_ACLK] [get_bd_pins {sc}/aclk]"
               if weights else "")
    w_reset = f" [get_bd_pins {sc}/aresetn]" if weights else ""
    w_connect = (f"""
# DDR weights: the sequencer's AXI4 read master -> its own SmartConnect (AXI4 -> AXI3, bursts
# over 16 beats split) -> {WEIGHT_PORT} (64 bits), a port apart from the DMA's HP0, so a line
# fill (the whole sequencer stalls on it) never waits behind a DMA burst in the PL. It reads
# the driver's buffer at WEIGHT_ADDR (not cache-coherent: the driver flushes the buffer).
connect_bd_intf_net [get_bd_intf_pins {CELL}/{WEIGHT_MASTER}] [get_bd_intf_pins {sc}/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins {sc}/M00_AXI] [get_bd_intf_pins {PS}/{WEIGHT_PORT}]
""" if weights else "")
    assign = "\n".join(
        f"assign_bd_address -offset {_hex(s.base)} -range {_hex(s.range)} "
        f"-target_address_space [get_bd_addr_spaces {s.master}] "
        f"[get_bd_addr_segs {s.segment}] -force" for s in amap)
    vhdl08 = " \\\n    ".join(f"[file join $script_dir {f}]" for f in hdl_2008)
    images = " \\\n    ".join(f"[file join $script_dir {f}]" for f in image_files)
    clock = f"{clock_mhz:g}"
    return f"""# Generated by twinspike/vivado.py (`twinspike compile --vivado`); regenerate, do not edit.
# The twinspike accelerator on the PYNQ-Z2 ({PART}): Zynq PS7, AXI DMA, the converted top:
# {design.title}.
#
#   vivado -mode batch -source build.tcl
#   vivado -mode batch -source build.tcl -tclargs --stop-after bd   (bd | synth | impl | bitstream)
#   vivado -mode batch -source build.tcl -tclargs --jobs 8
#
# Output: output/{name}.bit and output/{name}.hwh side by side (the names PYNQ's Overlay
# expects), output/{ADDRESS_MAP_FILE}, output/images/ (the compiled memory images).
# This script was generated on a machine without Vivado and has NOT been run there.
#
# Clock: FCLK_CLK0 = {clock} MHz drives the whole fabric (one clock domain).
# Address map (processing_system7_0/Data):
#   twinspike_0  {_hex(amap[0].base)} .. {_hex(amap[0].base + amap[0].range - 1)}  registers (span {_hex(SPAN)})
#   axi_dma_0    {_hex(amap[1].base)} .. {_hex(amap[1].base + amap[1].range - 1)}
#   axi_intc_0   {_hex(amap[2].base)} .. {_hex(amap[2].base + amap[2].range - 1)}
# DDR (PL masters through the HP ports):
#   {DMA} (MM2S, S2MM) -> S_AXI_HP0: {_hex(DDR_BASE)} .. {_hex(DDR_BASE + DDR_SIZE - 1)}
{w_comment}
set script_dir [file dirname [file normalize [info script]]]
set proj_name twinspike_vivado
set proj_dir [file join $script_dir project]
set bd_name {BD}
set out_name {name}
set out_dir [file join $script_dir output]
set stop_after bitstream
set jobs 4

for {{set i 0}} {{$i < [llength $argv]}} {{incr i}} {{
    set arg [lindex $argv $i]
    switch -- $arg {{
        --stop-after {{ incr i; set stop_after [lindex $argv $i] }}
        --jobs {{ incr i; set jobs [lindex $argv $i] }}
        default {{ error "build.tcl: unknown argument '$arg' (expected --stop-after bd|synth|impl|bitstream, --jobs N)" }}
    }}
}}
if {{[lsearch -exact {{bd synth impl bitstream}} $stop_after] < 0}} {{
    error "build.tcl: --stop-after $stop_after: expected bd, synth, impl or bitstream"
}}

# ---------------------------------------------------------------- project and sources
create_project $proj_name $proj_dir -part {PART} -force
set board_preset 0
if {{[llength [get_board_parts -quiet {BOARD_PART}]] > 0}} {{
    set_property board_part {BOARD_PART} [current_project]
    set board_preset 1
}} else {{
    puts "INFO: board files {BOARD_PART} not installed: using the part and the PYNQ-Z2 PS settings below"
}}
set_property target_language VHDL [current_project]

set hdl_2008 [list \\
    {vhdl08}]
set hdl_wrapper [file join $script_dir {hdl_wrapper}]
foreach f [concat $hdl_2008 [list $hdl_wrapper]] {{
    if {{![file exists $f]}} {{ error "build.tcl: missing source $f" }}
}}
add_files -norecurse -fileset sources_1 $hdl_2008
set_property FILE_TYPE {{VHDL 2008}} [get_files $hdl_2008]
add_files -norecurse -fileset sources_1 $hdl_wrapper
set_property FILE_TYPE {{VHDL}} [get_files $hdl_wrapper]
update_compile_order -fileset sources_1

# ---------------------------------------------------------------- block design
create_bd_design $bd_name

create_bd_cell -type ip -vlnv {IP["ps7"]} {PS}
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \\
    -config [list make_external {{FIXED_IO, DDR}} apply_board_preset $board_preset Master Disable Slave Disable] \\
    [get_bd_cells {PS}]
if {{!$board_preset}} {{
    # PYNQ-Z2 reference manual: 512 MiB DDR3 (MT41K256M16 RE-125, 16-bit bus), 50 MHz PS clock,
    # UART0 on MIO 14..15. (A PYNQ image's boot loader has set these already; the overlay
    # only takes the fabric clock from the .hwh.)
    set_property -dict [list \\
        CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ {{50}} \\
        CONFIG.PCW_UIPARAM_DDR_PARTNO {{MT41K256M16 RE-125}} \\
        CONFIG.PCW_UIPARAM_DDR_BUS_WIDTH {{16 Bit}} \\
        CONFIG.PCW_PRESET_BANK1_VOLTAGE {{LVCMOS 1.8V}} \\
        CONFIG.PCW_UART0_PERIPHERAL_ENABLE {{1}} \\
        CONFIG.PCW_UART0_UART0_IO {{MIO 14 .. 15}} \\
    ] [get_bd_cells {PS}]
}}
set_property -dict [list \\
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ {{{clock}}} \\
    CONFIG.PCW_USE_M_AXI_GP0 {{1}} \\
    CONFIG.PCW_USE_S_AXI_HP0 {{1}} \\
{w_config}    CONFIG.PCW_USE_FABRIC_INTERRUPT {{1}} \\
    CONFIG.PCW_IRQ_F2P_INTR {{1}} \\
] [get_bd_cells {PS}]

create_bd_cell -type module -reference {TOP} {CELL}

create_bd_cell -type ip -vlnv {IP["dma"]} {DMA}
set_property -dict [list \\
    CONFIG.c_include_sg {{0}} \\
    CONFIG.c_sg_length_width {{26}} \\
    CONFIG.c_include_mm2s {{1}} \\
    CONFIG.c_include_s2mm {{1}} \\
    CONFIG.c_m_axi_mm2s_data_width {{32}} \\
    CONFIG.c_m_axis_mm2s_tdata_width {{{pixel_bits}}} \\
    CONFIG.c_mm2s_burst_size {{16}} \\
    CONFIG.c_m_axi_s2mm_data_width {{32}} \\
    CONFIG.c_s_axis_s2mm_tdata_width {{32}} \\
    CONFIG.c_s2mm_burst_size {{16}} \\
] [get_bd_cells {DMA}]

create_bd_cell -type ip -vlnv {IP["smartconnect"]} smartconnect_gp0
set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{3}}] [get_bd_cells smartconnect_gp0]
create_bd_cell -type ip -vlnv {IP["smartconnect"]} smartconnect_hp0
set_property -dict [list CONFIG.NUM_SI {{2}} CONFIG.NUM_MI {{1}}] [get_bd_cells smartconnect_hp0]
{w_cells}
create_bd_cell -type ip -vlnv {IP["reset"]} proc_sys_reset_0

create_bd_cell -type ip -vlnv {IP["concat"]} xlconcat_0
set_property -dict [list CONFIG.NUM_PORTS {{3}}] [get_bd_cells xlconcat_0]
create_bd_cell -type ip -vlnv {IP["intc"]} {INTC}
set_property -dict [list CONFIG.C_IRQ_CONNECTION {{1}}] [get_bd_cells {INTC}]

# Clock and reset: FCLK_CLK0 everywhere; peripheral_aresetn (synchronous, active low).
connect_bd_net [get_bd_pins {PS}/FCLK_CLK0] \\
    [get_bd_pins {PS}/M_AXI_GP0_ACLK] [get_bd_pins {PS}/S_AXI_HP0_ACLK] \\
    [get_bd_pins {CELL}/aclk] \\
    [get_bd_pins {DMA}/s_axi_lite_aclk] [get_bd_pins {DMA}/m_axi_mm2s_aclk] [get_bd_pins {DMA}/m_axi_s2mm_aclk] \\
    [get_bd_pins smartconnect_gp0/aclk] [get_bd_pins smartconnect_hp0/aclk] \\
    [get_bd_pins {INTC}/s_axi_aclk] [get_bd_pins proc_sys_reset_0/slowest_sync_clk]{w_clock}
connect_bd_net [get_bd_pins {PS}/FCLK_RESET0_N] [get_bd_pins proc_sys_reset_0/ext_reset_in]
connect_bd_net [get_bd_pins proc_sys_reset_0/peripheral_aresetn] \\
    [get_bd_pins {CELL}/aresetn] [get_bd_pins {DMA}/axi_resetn] [get_bd_pins {INTC}/s_axi_aresetn]
connect_bd_net [get_bd_pins proc_sys_reset_0/interconnect_aresetn] \\
    [get_bd_pins smartconnect_gp0/aresetn] [get_bd_pins smartconnect_hp0/aresetn]{w_reset}

# Control: GP0 -> the accelerator's registers, the DMA's and the interrupt controller's.
connect_bd_intf_net [get_bd_intf_pins {PS}/M_AXI_GP0] [get_bd_intf_pins smartconnect_gp0/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins smartconnect_gp0/M00_AXI] [get_bd_intf_pins {CELL}/s_axi]
connect_bd_intf_net [get_bd_intf_pins smartconnect_gp0/M01_AXI] [get_bd_intf_pins {DMA}/S_AXI_LITE]
connect_bd_intf_net [get_bd_intf_pins smartconnect_gp0/M02_AXI] [get_bd_intf_pins {INTC}/S_AXI]

# Data: the DMA's masters -> HP0 (DDR); {design.input_name} DMA -> s_axis, results m_axis -> DMA.
connect_bd_intf_net [get_bd_intf_pins {DMA}/M_AXI_MM2S] [get_bd_intf_pins smartconnect_hp0/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins {DMA}/M_AXI_S2MM] [get_bd_intf_pins smartconnect_hp0/S01_AXI]
connect_bd_intf_net [get_bd_intf_pins smartconnect_hp0/M00_AXI] [get_bd_intf_pins {PS}/S_AXI_HP0]
connect_bd_intf_net [get_bd_intf_pins {DMA}/M_AXIS_MM2S] [get_bd_intf_pins {CELL}/s_axis]
connect_bd_intf_net [get_bd_intf_pins {CELL}/m_axis] [get_bd_intf_pins {DMA}/S_AXIS_S2MM]
{w_connect}
# Interrupts: accelerator, DMA MM2S, DMA S2MM -> axi_intc -> IRQ_F2P[0].
connect_bd_net [get_bd_pins {CELL}/interrupt] [get_bd_pins xlconcat_0/In0]
connect_bd_net [get_bd_pins {DMA}/mm2s_introut] [get_bd_pins xlconcat_0/In1]
connect_bd_net [get_bd_pins {DMA}/s2mm_introut] [get_bd_pins xlconcat_0/In2]
connect_bd_net [get_bd_pins xlconcat_0/dout] [get_bd_pins {INTC}/intr]
connect_bd_net [get_bd_pins {INTC}/irq] [get_bd_pins {PS}/IRQ_F2P]

# Address map (twinspike/vivado.py ADDRESS_MAP; == output/{ADDRESS_MAP_FILE}).
{assign}

validate_bd_design
save_bd_design
set bd_file [get_files $bd_name.bd]
generate_target all $bd_file
set wrapper [make_wrapper -files $bd_file -top]
add_files -norecurse $wrapper
set_property top ${{bd_name}}_wrapper [current_fileset]
update_compile_order -fileset sources_1

file mkdir $out_dir
file copy -force [file join $script_dir {ADDRESS_MAP_FILE}] [file join $out_dir {ADDRESS_MAP_FILE}]
set images [list \\
    {images}]
if {{[llength $images] > 0}} {{
    file mkdir [file join $out_dir images]
    foreach f $images {{
        if {{![file exists $f]}} {{ error "build.tcl: missing image $f" }}
        file copy -force $f [file join $out_dir images [file tail $f]]
    }}
}}
if {{$stop_after eq "bd"}} {{ puts "build.tcl: stopped after the block design"; return }}

# ---------------------------------------------------------------- synthesis, implementation
launch_runs synth_1 -jobs $jobs
wait_on_run synth_1
if {{[get_property PROGRESS [get_runs synth_1]] ne "100%"}} {{ error "build.tcl: synthesis failed" }}
if {{$stop_after eq "synth"}} {{ puts "build.tcl: stopped after synthesis"; return }}

if {{$stop_after eq "impl"}} {{
    launch_runs impl_1 -jobs $jobs
}} else {{
    launch_runs impl_1 -to_step write_bitstream -jobs $jobs
}}
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] ne "100%"}} {{ error "build.tcl: implementation failed" }}
open_run impl_1
report_timing_summary -file [file join $out_dir timing_summary.rpt]
report_utilization -file [file join $out_dir utilization.rpt]
if {{$stop_after eq "impl"}} {{ puts "build.tcl: stopped after implementation"; return }}

# ---------------------------------------------------------------- PYNQ files
set bit [file join [get_property DIRECTORY [get_runs impl_1]] ${{bd_name}}_wrapper.bit]
set hwh [lindex [glob -nocomplain \\
    [file join $proj_dir $proj_name.gen sources_1 bd $bd_name hw_handoff $bd_name.hwh] \\
    [file join $proj_dir $proj_name.srcs sources_1 bd $bd_name hw_handoff $bd_name.hwh]] 0]
if {{![file exists $bit]}} {{ error "build.tcl: no bitstream at $bit" }}
if {{$hwh eq ""}} {{ error "build.tcl: no $bd_name.hwh under $proj_dir" }}
file copy -force $bit [file join $out_dir $out_name.bit]
file copy -force $hwh [file join $out_dir $out_name.hwh]
puts "build.tcl: wrote [file join $out_dir $out_name.bit] and $out_name.hwh"
"""


# ----------------------------------------------------------------------------- the folder

def _regs_header(amap: tuple[Slave, ...]) -> str:
    lines = ["/* Generated by twinspike/vivado.py from sw/register_map.REGISTERS and the address",
             "   map; regenerate, do not edit. Byte offsets from TWINSPIKE_BASE. */",
             "#ifndef TWINSPIKE_REGS_H", "#define TWINSPIKE_REGS_H", ""]
    for s in amap:
        if s.master.endswith("/Data"):
            key = "TWINSPIKE" if s.name == "twinspike" else f"TWINSPIKE_{s.name.upper()}"
            lines += [f"#define {key}_BASE 0x{s.base:08X}u", f"#define {key}_RANGE 0x{s.range:08X}u"]
    lines += ["", f"#define TWINSPIKE_VERSION_WORD 0x{VERSION_WORD:08X}u",
              f"#define TWINSPIKE_REG_SPAN 0x{SPAN:02X}u"]
    lines += [f"#define TWINSPIKE_REG_{r.name} 0x{r.offset:02X}u" for r in REGISTERS]
    lines += ["", "#endif", ""]
    return "\n".join(lines)


def write_vivado_project(out_dir, params=AcceleratorParams(), images=None, *,
                         axi_p: AxiLiteParams = AxiLiteParams(), clock_mhz: float = 100.0,
                         name: str | None = None, network_files=()) -> dict:
    """Write the project folder (module docstring) for the design of ``params``
    (:func:`design_for`: ``AcceleratorParams`` with ``Images``, or ``GlmNeuronParams`` with a
    ``GlmNetwork``); ``images`` must have been made for ``params``; ``name``: the output
    base name (default the design's). Returns ``{what: path}``."""
    check_clock(clock_mhz)
    design = design_for(params)
    name = design.name if name is None else name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"name {name!r}: expected a letter then letters, digits or _")
    if images is not None and getattr(images, "params", None) != params:
        raise ValueError(f"images: made for other parameters than the top's "
                         f"({type(images).__name__}.params != the {design.key} params)")
    out = Path(out_dir)
    hdl = out / "hdl"
    if hdl.exists():
        shutil.rmtree(hdl)
    burst = None if design.weight_burst is None else design.weight_burst(params)
    if burst is not None and not 1 <= burst <= MAX_AXI4_BURST:
        raise ValueError(f"line_words={burst}: the DDR weight master's bursts are one line, "
                         f"and an AXI4 burst has 1..{MAX_AXI4_BURST} beats")
    vhdl_files = toolchain.convert(design.top(params, axi_p), "vhdl", hdl, CORE)
    core_ports = entity_ports(vhdl_files[1].read_text(), CORE)
    widths = {n: w for n, _, w in core_ports}
    has_master = any(n.startswith(WEIGHT_MASTER + "_") for n in widths)
    if has_master != (burst is not None):
        raise ValueError(f"the converted {design.key} top {'has' if has_master else 'lacks'} "
                         f"{WEIGHT_MASTER}_* ports, its Design says the opposite")
    wrapper = hdl / f"{TOP}.vhd"
    write_text(wrapper, wrapper_vhdl(core_ports, axi_p, clock_mhz, burst))

    image_files: list[str] = []
    if images is not None:
        manifest = design.write_images(images, out / "images", network_files)
        image_files = sorted(f"images/{f.name}" for f in manifest.parent.iterdir()
                             if f.suffix in (".mem", ".coe", ".json", ".bin"))

    amap = address_map(axi_p, design)
    master = None if burst is None else {
        "interface": f"{CELL}/{WEIGHT_MASTER}", "protocol": "AXI4", "read_only": True,
        "addr_bits": widths[f"{WEIGHT_MASTER}_araddr"],
        "data_bits": widths[f"{WEIGHT_MASTER}_rdata"], "max_burst": burst,
        "port": f"{PS}/{WEIGHT_PORT}",
        "smartconnect": WEIGHT_SMARTCONNECT, "base": DDR_BASE, "range": DDR_SIZE,
        "register": "WEIGHT_ADDR"}
    write_text(out / ADDRESS_MAP_FILE, json.dumps({
        "part": PART, "board_part": BOARD_PART, "clock_mhz": clock_mhz,
        "slaves": [dict(asdict(s), cell=s.cell) for s in amap],
        "weight_master": master,
        "register_span": SPAN,
        "registers": {r.name: r.offset for r in REGISTERS},
        "ip": IP, "design": design.key, "params": design.params_doc(params),
        "axi_lite_addr_bits": axi_p.addr_bits,
    }, indent=2) + "\n")
    write_text(out / "twinspike_regs.h", _regs_header(amap))
    rel = [f.relative_to(out).as_posix() for f in vhdl_files]
    tcl = build_tcl(params, axi_p, clock_mhz, name, rel, wrapper.relative_to(out).as_posix(),
                    image_files)
    write_text(out / "build.tcl", tcl)
    return {"tcl": out / "build.tcl", "vhdl": vhdl_files + [wrapper],
            "address_map": out / ADDRESS_MAP_FILE, "header": out / "twinspike_regs.h",
            "images": [out / f for f in image_files]}
