"""The PYNQ drivers of the twinspike tops on the Zynq-7020 -- the IF accelerator
(``hw/top.py``) and the GLM unit (``hw/glm_top.py``) -- and a stand-in overlay to try them
without a board.

Both tops have the same ports, register map (``sw/register_map.REGISTERS``) and stream
conventions, so one driver machinery (:class:`Driver`) serves both: it talks to a top through
three handles, the interfaces of PYNQ's:

* ``mmio`` -- the AXI4-Lite slave: ``read(offset) -> int`` and ``write(offset, value)``
  (``pynq.MMIO``); only the offsets of ``sw/register_map.REGISTERS`` are touched;
* ``dma`` -- an AXI DMA in simple mode with ``sendchannel`` (MM2S: one sample's input bytes,
  one beat per byte, ``uint8`` in ``TDATA``, ``TLAST`` at the end of a transfer) and
  ``recvchannel`` (S2MM: result words, ``uint32``), each with ``transfer(buffer)``,
  ``wait()`` and ``idle`` (``pynq.lib.dma.DMA``);
* ``allocate(shape, dtype)`` -- DMA-able buffers (``pynq.allocate``): physically
  contiguous, with ``physical_address``, ``flush()`` and ``freebuffer()``.

:meth:`Driver.from_overlay` builds them from a bitstream on the board (``pynq`` is imported
there and only there: it is not a dependency of twinspike). :class:`Driver` holds what the
tops share: the ``VERSION``/``HW_PARAMS`` check (``HW_PARAMS.input_bits`` 0 marks a GLM top),
the memory window load with its ``MEM_ADDR`` check, the start, one DMA send and one DMA
receive transfer per sample, status polling with timeouts, the ``ERROR`` codes and the
recovery (soft reset, DMA stop). The subclasses hold what differs:

* :class:`Accelerator` -- the IF top: compiled :class:`Images`, pixels in, classes, first-spike
  steps and counts out. The register writes that configure a run and load the images are
  ``hw/top.host_setup``'s; results are read with ``hw/layer_sequencer.read_result``.
  **DDR weights** (images whose weights overflow the on-chip ``weight_depth``): the driver
  allocates one physically contiguous buffer of 64-bit words (``allocate``; whole cache
  lines, page aligned, so no line crosses 4 KB), copies ``hw/layer_sequencer.external_words``
  into it, flushes it from the CPU caches (the HP port is not cache-coherent), and writes its
  physical address to ``WEIGHT_ADDR`` (at load and before every run); the buffer is freed by
  :meth:`Accelerator.close` and when other images are loaded.
* :class:`GlmAccelerator` -- the GLM top: a GLM network (a ``twinspike compile GLM.npz``
  folder or a :class:`~twinspike.glm.export.GlmNetwork`), spike trains in (``hw/glm_top.
  spike_beats``), decisions, decision steps and fallback flags out (``hw/glm_top.
  parse_results``); writes from ``hw/glm_top.host_setup``.

:class:`SimulatedOverlay` is a **stand-in** with the same three handles whose calls drive the
MyHDL top (``hw/top.accelerator_top`` for :class:`AcceleratorParams`, ``hw/glm_top.glm_top``
for :class:`GlmNeuronParams`) simulated in a background thread: the top's cycles, results and
errors are the real top's, only much slower (thousands of cycles per second) and without the
board's timing, caches or DMA engine. Its ``allocate`` gives :class:`SimBuffer` arrays with a
simulated ``physical_address``; what ``flush()`` writes is what the top's DDR weight master
reads (``hw/top.Host.put_ddr``), so a driver that forgets to flush reads stale (zero) words
there too.
"""
from __future__ import annotations

import dataclasses

import json
import math
import numbers
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from twinspike.compile import read_images
from twinspike.glm.deploy import read_network
from twinspike.glm.export import GlmNetwork, _params_doc
from twinspike.hw import glm_top as gt
from twinspike.hw import top as ht
from twinspike.hw.layer_sequencer import external_words, read_result
from twinspike.sw.glm_neuron import GlmNeuronParams
from twinspike.sw.layer_sequencer import DDR_BEAT_BYTES, AcceleratorParams, Images, decode_table
from twinspike.sw.register_map import (ERROR, ERROR_CODES, RESP_OKAY, VERSION_WORD, at,
                                       field_of, field_value, offset, register)
from twinspike.vivado import ADDRESS_MAP_FILE, CELL, DDR_BASE, DDR_SIZE, DMA

__all__ = ["Driver", "Accelerator", "GlmAccelerator", "BoardResult", "GlmBoardResult",
           "BoardError", "AcceleratorError", "SimulatedOverlay", "SimBuffer", "read_build"]

#: ``HW_PARAMS`` fields, which must equal the compiled images' ``AcceleratorParams``.
HW_FIELDS = ("lanes", "weight_bits", "membrane_bits", "input_bits")
T_MAX = (1 << register("T").width) - 1
STATUS_BITS = ("busy", "done", "error")
#: AXI bursts must not cross this boundary; the DDR buffer is aligned to it (and to a line).
PAGE = 4096
PYNQ_MISSING = ("from_overlay needs the 'pynq' package, which runs on the board: run this on a "
                "PYNQ-Z2 image (or pip install pynq there); off the board use Accelerator(mmio, "
                "dma, allocate) / GlmAccelerator(...) or twinspike.board.SimulatedOverlay")


class BoardError(RuntimeError):
    """The board, its bitstream or the driver's use do not fit together."""


class AcceleratorError(BoardError):
    """The core stopped a run with an ``ERROR`` code (``code``, ``name``, ``status``)."""

    def __init__(self, code: int, status: int, hint: str = ""):
        self.code, self.status = code, status
        self.name, meaning = ERROR_CODES.get(code, (f"UNKNOWN_{code}", "not in the register map"))
        super().__init__(f"the accelerator stopped with ERROR={code} {self.name} ({meaning}); "
                         f"{_status_text(status)}{hint}")


def _status_text(status: int) -> str:
    bits = [n for n in STATUS_BITS if field_of("STATUS", status, n)]
    return f"STATUS={status:#x} ({', '.join(bits) or 'idle'})"


@dataclass(frozen=True)
class BoardResult:
    """One batch: per image ``classes``, ``first_spike_steps`` (1-based, 0: no output spike)
    and ``counts`` ``[B, n_outputs]``; the run's totals ``cycles``, ``sops`` and
    ``saturation`` (the ``CYCLES``, ``SOPS`` and ``SATURATION`` registers); ``seconds`` of
    wall time; ``stalls`` (cycles waiting for DDR weight lines, part of ``cycles``) and
    ``weight_fills`` (DDR weight lines fetched) -- the ``STALLS`` and ``WEIGHT_FILLS``
    registers, 0 when every weight is on chip."""

    classes: np.ndarray
    first_spike_steps: np.ndarray
    counts: np.ndarray
    cycles: int
    sops: int
    saturation: int
    seconds: float
    stalls: int = 0
    weight_fills: int = 0


@dataclass(frozen=True)
class GlmBoardResult:
    """One batch on the GLM top: per sample ``decisions`` (the class), ``decision_steps``
    (1-based timestep of the decision) and ``fallbacks`` (1: no output spiked by ``T``, the
    class is the membrane argmax); the run's totals ``cycles`` and ``sops`` (the ``CYCLES``
    and ``SOPS`` registers); ``seconds`` of wall time."""

    decisions: np.ndarray
    decision_steps: np.ndarray
    fallbacks: np.ndarray
    cycles: int
    sops: int
    seconds: float


def _check_timeout(timeout) -> None:
    if not (isinstance(timeout, numbers.Real) and timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout={timeout!r}: expected seconds > 0")


class Driver:
    """What the drivers of both tops share (module docstring); use :class:`Accelerator` or
    :class:`GlmAccelerator`. ``poll_s``: the longest sleep between status polls (they start at
    20 us and double up to it)."""

    #: True for the driver of a GLM top (``HW_PARAMS.input_bits`` 0).
    GLM = False

    def __init__(self, mmio, dma, allocate, poll_s: float = 0.002, build: dict | None = None):
        self.mmio, self.dma, self.allocate, self.poll_s = mmio, dma, allocate, poll_s
        #: The bitstream's ``address_map.json`` (``twinspike compile --vivado``; read by
        #: :meth:`from_overlay` from beside the bitstream): its ``params`` are what the
        #: bitstream was generated for, which ``HW_PARAMS`` shows only in part.
        self.build = build

    def _check_build(self, want: dict, kind: str, fix: str) -> None:
        """Raise :class:`BoardError` when :attr:`build` is known and its ``params`` differ
        from ``want``."""
        if self.build is None:
            return
        built = self.build.get("params") or {}
        bad = sorted(k for k in set(built) | set(want) if built.get(k) != want.get(k))
        if bad:
            raise BoardError(f"the bitstream was generated for other {kind} ({', '.join(bad)} "
                             f"differ from the network's; its {ADDRESS_MAP_FILE} says so): "
                             f"{fix}")

    def close(self) -> None:
        """Free what the driver allocated beyond a run (nothing here; see
        :meth:`Accelerator.close`). Also the end of a ``with`` block."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @classmethod
    def from_overlay(cls, bitfile, ip: str = CELL, dma: str = DMA, **kw):
        """Download ``bitfile`` with PYNQ (its ``.hwh`` beside it); ``ip`` and ``dma`` are the
        block-design cells of the top and of its AXI DMA (defaults: those of the script of
        ``twinspike compile --vivado``, ``twinspike/vivado.py``, for either top)."""
        try:
            import pynq
        except ImportError:
            raise ImportError(PYNQ_MISSING) from None
        overlay = pynq.Overlay(str(bitfile))
        for name in (ip, dma):
            if name not in overlay.ip_dict:
                raise BoardError(f"{bitfile}: no IP named {name!r} (IPs: "
                                 f"{', '.join(sorted(overlay.ip_dict))})")
        info = overlay.ip_dict[ip]
        mmio = pynq.MMIO(info["phys_addr"], info["addr_range"])
        drv = cls(mmio, getattr(overlay, dma), pynq.allocate, **kw)
        path = Path(bitfile).with_name(ADDRESS_MAP_FILE)
        if drv.build is None and path.is_file():      # the Vivado script copies it to output/
            drv.build = read_build(path, "glm" if cls.GLM else "accelerator")
        return drv

    # -- registers

    def _read(self, name: str) -> int:
        return int(self.mmio.read(offset(name)))

    def _write(self, name: str, value: int) -> None:
        self.mmio.write(offset(name), int(value))

    def _state(self) -> str:
        """``STATUS`` and ``ERROR`` for a message (never raises)."""
        try:
            code = self._read("ERROR")
            return (f"{_status_text(self._read('STATUS'))}, ERROR={code} "
                    f"{ERROR_CODES.get(code, ('?',))[0]}")
        except Exception as exc:  # noqa: BLE001 -- a message must not hide the first error
            return f"STATUS unreadable ({exc})"

    def _check_hardware(self, want: dict[str, int], fix: str, labels=None) -> None:
        """Raise :class:`BoardError` unless ``VERSION`` is this driver's register map, the
        top is this driver's kind (IF or GLM) and ``HW_PARAMS`` has the ``want`` fields
        (``fix``: what to do on a mismatch; ``labels``: field names for the message)."""
        version = self._read("VERSION")
        if version != VERSION_WORD:
            raise BoardError(f"VERSION reads {version:#010x}, this driver expects "
                             f"{VERSION_WORD:#010x}: not a twinspike accelerator, or another "
                             "register-map revision (rebuild the bitstream or update twinspike)")
        word = self._read("HW_PARAMS")
        have = {f: field_of("HW_PARAMS", word, f) for f in HW_FIELDS}
        glm = have["input_bits"] == 0
        if glm != self.GLM:
            kind, other = (("a GLM top", "GlmAccelerator") if glm
                           else ("an IF accelerator top", "Accelerator"))
            raise BoardError(f"HW_PARAMS={word:#010x} (input_bits {have['input_bits']}) is "
                             f"{kind}: drive it with twinspike.board.{other}, not "
                             f"{type(self).__name__}")
        labels = labels or {}
        bad = [f"{labels.get(f, f)}: bitstream {have[f]}, images {v}" for f, v in want.items()
               if have[f] != v]
        if bad:
            raise BoardError(f"HW_PARAMS mismatch ({'; '.join(bad)}): {fix}")

    def _load_window(self, writes) -> None:
        """Write ``writes`` (configuration and memory-window writes); check the chunk count
        (``MEM_ADDR``: the window cannot be read back)."""
        if field_of("STATUS", self._read("STATUS"), "busy"):
            raise BoardError(f"cannot load while a run is in progress ({self._state()}); "
                             "call reset() first")
        expect = None
        for addr, value in writes:
            self.mmio.write(addr, value)
            if addr == offset("MEM_ADDR"):
                expect = value
            elif addr == offset("MEM_DATA"):
                expect += 1
        got = self._read("MEM_ADDR")
        if expect is not None and got != expect:
            raise BoardError(f"memory window: MEM_ADDR reads {got} after the load, expected "
                             f"{expect} (writes were lost)")

    def _begin(self, writes) -> None:
        """Configure a run with ``writes`` (the top's ``host_setup`` without memories), clear
        ``IRQ`` and start (the interrupt stays disabled: the driver polls)."""
        if field_of("STATUS", self._read("STATUS"), "busy"):
            raise BoardError(f"a run is in progress ({self._state()}); call reset() first")
        for addr, value in writes:
            self.mmio.write(addr, value)
        self._write("IRQ", 1)
        self._write("CONTROL", ht.start_word(irq_enable=False))

    def _stream(self, x: np.ndarray, n_words: int, noun: str, unit: str,
                timeout: float) -> np.ndarray:
        """Per sample ``x[b]`` (bytes) one S2MM transfer of ``n_words`` result words and one
        MM2S transfer of the bytes, then wait for ``STATUS.done``; returns the words
        ``[B, n_words]``."""
        B = len(x)
        send, recv = self.dma.sendchannel, self.dma.recvchannel
        in_buf = self.allocate(shape=(x.shape[1],), dtype=np.uint8)
        out_buf = self.allocate(shape=(n_words,), dtype=np.uint32)
        words = np.zeros((B, n_words), dtype=np.int64)
        plural = "s" if n_words != 1 else ""
        try:
            for b in range(B):
                in_buf[:] = x[b]
                recv.transfer(out_buf)
                send.transfer(in_buf)
                self._wait(lambda _: send.idle, f"the DMA send of {noun} {b} of {B} "
                           f"({x.shape[1]} {unit})", timeout)
                self._wait(lambda _: recv.idle, f"the DMA receive of {noun} {b} of {B}'s "
                           f"results ({n_words} word{plural})", timeout)
                send.wait()
                recv.wait()
                words[b] = out_buf
            self._wait(lambda status: field_of("STATUS", status, "done"),
                       "STATUS.done at the end of the run", timeout)
        finally:
            for buf in (in_buf, out_buf):
                if hasattr(buf, "freebuffer"):
                    buf.freebuffer()
        return words

    def _end(self, *names: str, wide: tuple[str, ...] = ()) -> dict[str, int]:
        """After a run: the 64-bit ``CYCLES`` and ``SOPS`` totals (and ``wide`` ones) and the
        registers ``names``; then clear ``IRQ``."""
        regs = {n: self._read(f"{n}_HI") << 32 | self._read(f"{n}_LO")
                for n in ("CYCLES", "SOPS", *wide)}
        regs.update({n: self._read(n) for n in names})
        self._write("IRQ", 1)
        return regs

    def reset(self) -> None:
        """Soft-reset the core (not its registers or memories), clear ``IRQ`` and stop any
        DMA transfer still pending (channels with ``stop``/``start``, as PYNQ's)."""
        self._write("CONTROL", field_value("CONTROL", soft_reset=1))
        self._write("IRQ", 1)
        for channel in (self.dma.sendchannel, self.dma.recvchannel):
            if not channel.idle and hasattr(channel, "stop"):
                channel.stop()
                channel.start()

    def _wait(self, ready, what: str, timeout: float) -> None:
        """Poll ``STATUS`` until ``ready(status)`` (raise on ``STATUS.error``, or when
        ``timeout`` passes)."""
        deadline = time.monotonic() + timeout
        sleep = 2e-5
        while True:
            status = self._read("STATUS")
            if field_of("STATUS", status, "error"):
                code = self._read("ERROR")
                self._recover()
                raise AcceleratorError(code, status, hint=self._error_hint(code))
            if ready(status):
                return
            if time.monotonic() > deadline:
                state = self._state()
                self._recover()
                raise TimeoutError(f"{what} did not complete within {timeout:g} s; {state}; "
                                   "the core was reset")
            time.sleep(sleep)
            sleep = min(2 * sleep, self.poll_s)

    def _recover(self) -> None:
        try:
            self.reset()
        except Exception:  # noqa: BLE001 -- best effort: the caller raises the first error
            pass

    def _error_hint(self, code: int) -> str:
        """What to add to the message of ``ERROR`` ``code``."""
        return " (was load() called?)" if code == ERROR["BAD_MAGIC"] else ""


def _free(buffer) -> None:
    """Free a buffer of ``allocate`` (PYNQ's ``freebuffer``; plain arrays need nothing)."""
    if buffer is not None and hasattr(buffer, "freebuffer"):
        buffer.freebuffer()


def _physical_address(buffer) -> int | None:
    for name in ("physical_address", "device_address"):
        value = getattr(buffer, name, None)
        if value is not None:
            return int(value)
    return None


class Accelerator(Driver):
    """The driver of the IF accelerator top (``hw/top.py``; module docstring)."""

    def __init__(self, mmio, dma, allocate, poll_s: float = 0.002, build: dict | None = None):
        super().__init__(mmio, dma, allocate, poll_s, build)
        self.images: Images | None = None
        self.table_base = 0
        #: The DDR weight buffer (``allocate``'s) and its physical byte address, the value
        #: of ``WEIGHT_ADDR`` (0 when the images have every weight on chip).
        self.ddr_buffer = None
        self.weight_addr = 0

    def check(self, params: AcceleratorParams) -> None:
        """Raise :class:`BoardError` unless ``VERSION`` is this driver's register map,
        ``HW_PARAMS`` equals ``params`` (lanes and widths) and, when :attr:`build` is known,
        the bitstream was generated for exactly ``params`` -- depths included: images
        compiled for another ``weight_depth`` split the weights between chip and DDR
        elsewhere, which no register shows."""
        fix = ("compile the network with the bitstream's parameters (twinspike compile "
               "--param ...) or load the matching bitstream")
        self._check_hardware({f: getattr(params, f) for f in HW_FIELDS}, fix)
        self._check_build(dataclasses.asdict(params), "AcceleratorParams", fix)

    # -- memory images

    def _checked(self, images) -> Images:
        images = read_images(images) if isinstance(images, (str, Path)) else images
        if not isinstance(images, Images):
            raise ValueError(f"images: expected Images or a compile folder, got "
                             f"{type(images).__name__}")
        self.check(images.params)
        return images

    def _stage_ddr(self, images: Images):
        """``(buffer, physical address)`` of a fresh DDR buffer holding ``images``' DDR
        weight words (``(None, 0)`` when there are none): whole lines of 64-bit words, the
        words then zeros, flushed from the CPU caches. Raises :class:`BoardError` when the
        buffer cannot serve the weight master (no physical address or ``flush``, an address
        not line-aligned, outside the DDR the master sees or beyond 32 bits)."""
        words = external_words(images)
        if not words:
            return None, 0
        p = images.params
        line_bytes = p.line_words * DDR_BEAT_BYTES
        if line_bytes > PAGE:
            raise BoardError(f"line_words={p.line_words}: a line of {line_bytes} bytes would "
                             f"cross a {PAGE}-byte boundary (AXI forbids it); compile for a "
                             f"bitstream with line_words <= {PAGE // DDR_BEAT_BYTES}")
        if self.allocate is None:
            raise BoardError(f"the images have {len(words):,} weight words in DDR: the driver "
                             "needs allocate (pynq.allocate) for their buffer")
        n = -(-len(words) // p.line_words) * p.line_words
        buffer = self.allocate(shape=(n,), dtype=np.uint64)
        try:
            buffer[:len(words)] = np.asarray(words, dtype=np.uint64)
            buffer[len(words):] = 0
            addr = _physical_address(buffer)
            if addr is None or not hasattr(buffer, "flush"):
                raise BoardError(f"allocate gave a {type(buffer).__name__} without "
                                 "physical_address and flush(): DDR weights need a physically "
                                 "contiguous buffer (pynq.allocate, or SimulatedOverlay's)")
            buffer.flush()
            end = addr + n * DDR_BEAT_BYTES
            if addr % line_bytes or addr % DDR_BEAT_BYTES:
                raise BoardError(f"DDR weight buffer at {addr:#010x} is not aligned to a line "
                                 f"({line_bytes} bytes): WEIGHT_ADDR must be a multiple of it")
            if addr < DDR_BASE or end > DDR_BASE + DDR_SIZE or end > 1 << 32:
                raise BoardError(f"DDR weight buffer {addr:#010x}..{end - 1:#010x} is outside "
                                 f"the DDR the weight master sees ({DDR_BASE:#010x}.."
                                 f"{DDR_BASE + DDR_SIZE - 1:#010x}, twinspike/vivado.py)")
        except BaseException:
            _free(buffer)
            raise
        return buffer, addr

    def _adopt(self, images: Images, table_base: int, buffer, addr: int) -> None:
        """Make ``images`` (with their DDR ``buffer`` at ``addr``) the current ones; free the
        previous buffer."""
        old, self.ddr_buffer, self.weight_addr = self.ddr_buffer, buffer, addr
        self.images, self.table_base = images, table_base
        self._header = decode_table(images.table)[0]
        if old is not None and old is not buffer:
            _free(old)

    def attach(self, images, table_base: int = 0) -> None:
        """Declare that the on-chip memories already hold ``images`` (an :class:`Images` or a
        ``twinspike compile`` folder), e.g. loaded by an earlier session: nothing is written
        to the core. DDR weights (host memory, which an earlier process took with it) are
        copied into a fresh buffer; each run writes its address to ``WEIGHT_ADDR``."""
        images = self._checked(images)
        self._adopt(images, table_base, *self._stage_ddr(images))

    def load(self, images, table_base: int = 0) -> None:
        """Check the hardware and write every on-chip memory image through the AXI4-Lite
        window (``hw/top.host_setup``), and the DDR weights, if any, into a fresh buffer
        whose address goes to ``WEIGHT_ADDR`` (the previous buffer is freed once the load
        succeeded); ``images``: :class:`Images` or a ``twinspike compile`` folder. The window
        cannot be read back; the chunk count (``MEM_ADDR``) is checked."""
        images = self._checked(images)
        buffer, addr = self._stage_ddr(images)
        try:
            self._load_window(ht.host_setup(images, 1, 1, table_base, irq_enable=False,
                                            weight_addr=addr))
        except BaseException:
            _free(buffer)
            raise
        self._adopt(images, table_base, buffer, addr)

    def close(self) -> None:
        """Free the DDR weight buffer (soft-resetting the core first if a run is in
        progress, so it stops reading it); the images are forgotten: :meth:`load` again."""
        if self.ddr_buffer is not None:
            try:
                if field_of("STATUS", self._read("STATUS"), "busy"):
                    self._recover()
            except Exception:  # noqa: BLE001 -- closing must free the buffer regardless
                pass
            _free(self.ddr_buffer)
        self.ddr_buffer, self.weight_addr, self.images = None, 0, None

    def _error_hint(self, code: int) -> str:
        if code != ERROR["DDR_READ"]:
            return super()._error_hint(code)
        if self.ddr_buffer is None:
            return (" (these images have no DDR weights, WEIGHT_ADDR=0: the bitstream's "
                    "weight_depth is smaller than the images'? compile with its parameters)")
        n = len(self.ddr_buffer)
        return (f" (WEIGHT_ADDR={self.weight_addr:#010x}, the driver's buffer of {n:,} words: "
                "a DDR read was answered with an error; check the buffer and WEIGHT_ADDR -- the "
                "top drained the failed burst, the driver's soft reset recovers)")

    # -- runs

    def _pixels(self, pixels) -> np.ndarray:
        h = self._header
        c, y, x, n = h["input_channels"], h["input_height"], h["input_width"], h["input_size"]
        arr = np.asarray(pixels)
        shapes = [(c, y, x), (n,)] + ([(y, x)] if c == 1 else [])
        if arr.ndim < 2 or len(arr) == 0 or arr.shape[1:] not in shapes:
            raise ValueError(f"pixels: shape {arr.shape}, expected (B, "
                             f"{', '.join(map(str, (c, y, x)))}) or (B, {n}) with B >= 1")
        if arr.dtype.kind not in "iu":
            raise ValueError(f"pixels: dtype {arr.dtype}, expected integers")
        top = (1 << h["input_bits"]) - 1
        if arr.min() < 0 or arr.max() > top:
            raise ValueError(f"pixels: values {arr.min()}..{arr.max()} outside 0..{top} "
                             f"({h['input_bits']}-bit input)")
        return arr.reshape(len(arr), n).astype(np.uint8)

    def run(self, pixels, T: int, timeout: float = 10.0) -> BoardResult:
        """Run ``pixels[B, ...]`` (``(C, H, W)`` or flat per image; ``0..2**input_bits-1``)
        for ``T`` timesteps: one DMA send and one DMA receive transfer per image, then wait
        for ``STATUS.done``. ``timeout``: seconds each wait may take (one image's transfers,
        the end of the run). Raises ``ValueError`` for bad arguments (before the device is
        touched), :class:`AcceleratorError` when the core reports an error, ``TimeoutError``
        naming what was waited for; after either the core is :meth:`reset`."""
        if self.images is None:
            raise BoardError("no network: call load(images) first (or attach(images) when the "
                             "memories already hold them)")
        x = self._pixels(pixels)
        if not isinstance(T, numbers.Integral) or isinstance(T, bool) or not 1 <= T <= T_MAX:
            raise ValueError(f"T={T!r}: expected an integer 1..{T_MAX}")
        _check_timeout(timeout)
        B, n_out = len(x), self._header["n_outputs"]
        t0 = time.monotonic()
        self._begin(ht.host_setup(None, T, B, self.table_base, irq_enable=False,
                                  weight_addr=self.weight_addr)
                    + [(offset("LAYER_COUNT"), self._header["n_populations"])])
        words = self._stream(x, 1 + n_out, "image", "pixels", timeout)
        regs = self._end("SATURATION", "WEIGHT_FILLS", wide=("STALLS",))
        records = [read_result([int(w) for w in row]) for row in words]
        return BoardResult(classes=np.array([r["class"] for r in records], dtype=np.int64),
                           first_spike_steps=np.array([r["first_spike_step"] for r in records],
                                                      dtype=np.int64),
                           counts=np.array([r["counts"] for r in records], dtype=np.int64),
                           cycles=regs["CYCLES"], sops=regs["SOPS"],
                           saturation=regs["SATURATION"], seconds=time.monotonic() - t0,
                           stalls=regs["STALLS"], weight_fills=regs["WEIGHT_FILLS"])


class GlmAccelerator(Driver):
    """The driver of the GLM top (``hw/glm_top.py``; module docstring). The top is generated
    per network (its kernel table, sigmoid LUT, sizes and sampler seed are constants of the
    design), and ``HW_PARAMS`` shows only ``n_out`` and ``membrane_bits`` of them: ``build``
    is the ``address_map.json`` of the bitstream's Vivado folder (``twinspike compile GLM.npz
    --vivado``; :meth:`from_overlay` reads the one beside the bitstream), whose ``params``
    :meth:`check` compares field by field; without it that comparison is skipped."""

    GLM = True

    def __init__(self, mmio, dma, allocate, poll_s: float = 0.002, build: dict | None = None):
        super().__init__(mmio, dma, allocate, poll_s, build)
        self.network: GlmNetwork | None = None

    def check(self, params: GlmNeuronParams) -> None:
        """Raise :class:`BoardError` unless ``VERSION`` is this driver's register map,
        ``HW_PARAMS`` is a GLM top's with ``params``' ``n_out`` and ``membrane_bits``, and
        (when :attr:`build` is known) the bitstream was generated for exactly ``params``."""
        fix = ("build the bitstream from this network's compile folder (twinspike compile "
               "GLM.npz --out DIR --vivado) or load the network it was built for")
        self._check_hardware({"lanes": params.n_out, "weight_bits": 1,
                              "membrane_bits": params.membrane_bits, "input_bits": 0}, fix,
                             labels={"lanes": "lanes (n_out)"})
        self._check_build(_params_doc(params), "GlmNeuronParams", fix)

    def _checked(self, network) -> GlmNetwork:
        if isinstance(network, (str, Path)):
            network = read_network(network)
        if not isinstance(network, GlmNetwork):
            raise ValueError(f"network: expected a GlmNetwork or a GLM compile folder, got "
                             f"{type(network).__name__}")
        self.check(network.params)
        return network

    def attach(self, network) -> None:
        """Declare that the memories already hold ``network`` (a :class:`GlmNetwork` or a
        ``twinspike compile GLM.npz`` folder): the hardware is checked, nothing is written."""
        self.network = self._checked(network)

    def load(self, network) -> None:
        """Check the hardware and write the binary weights and the biases through the
        AXI4-Lite window (``hw/glm_top.host_setup``); ``network``: a :class:`GlmNetwork` or a
        ``twinspike compile GLM.npz`` folder. The chunk count (``MEM_ADDR``) is checked."""
        net = self._checked(network)
        self._load_window(gt.host_setup(net.params, net.weights, net.biases, net.steps, 1,
                                        irq_enable=False))
        self.network = net

    def encode(self, x, T: int | None = None) -> np.ndarray:
        """Spike trains ``(B, T, n_in)`` of ``x`` (``uint8`` intensities ``(B, n_in)`` or
        ``(B, ...)`` with ``n_in`` values each) with the network's rate encoder (the Cython
        encoder the evaluator uses); ``T``: default the network's ``steps``."""
        from twinspike.ext import rate_encoder

        net = self._need_network()
        if net.encoder is None:
            raise ValueError("the network has no encoder in its files: pass spike trains "
                             "(B, T, n_in) to run()")
        x = np.asarray(x)
        if x.ndim < 2 or len(x) == 0 or int(np.prod(x.shape[1:])) != net.params.n_in:
            raise ValueError(f"x: shape {x.shape}, expected (B, {net.params.n_in}) with B >= 1")
        return rate_encoder.encode(net.encoder, x.reshape(len(x), -1), net.steps if T is None
                                   else T)

    def _need_network(self) -> GlmNetwork:
        if self.network is None:
            raise BoardError("no network: call load(network) first (or attach(network) when "
                             "the memories already hold it)")
        return self.network

    def _spikes(self, spikes) -> np.ndarray:
        p = self._need_network().params
        s = np.asarray(spikes)
        if s.ndim != 3 or len(s) == 0 or s.shape[2] != p.n_in or not 1 <= s.shape[1] <= \
                p.max_steps:
            raise ValueError(f"spikes: shape {s.shape}, expected (B, T, {p.n_in}) with B >= 1 "
                             f"and 1 <= T <= {p.max_steps} (max_steps)")
        if s.dtype.kind not in "iub":
            raise ValueError(f"spikes: dtype {s.dtype}, expected integers 0/1")
        if s.min() < 0 or s.max() > 1:
            raise ValueError(f"spikes: values {s.min()}..{s.max()} outside 0..1")
        return s.astype(np.uint8)

    def run(self, spikes, timeout: float = 10.0) -> GlmBoardResult:
        """Run the spike trains ``spikes[B, T, n_in]`` (0/1; ``T`` = the ``T`` register,
        ``1..max_steps``): per sample one DMA send of its ``T * ceil(n_in / 8)`` bytes
        (``hw/glm_top.spike_beats``) and one DMA receive of its result word, then wait for
        ``STATUS.done``. ``timeout``, errors and the recovery as :meth:`Accelerator.run`."""
        s = self._spikes(spikes)
        _check_timeout(timeout)
        p = self.network.params
        B, T = s.shape[:2]
        x = np.array([d for d, _ in gt.spike_beats(p, s)], dtype=np.uint8).reshape(B, -1)
        t0 = time.monotonic()
        self._begin(gt.host_setup(p, None, None, T, B, irq_enable=False))
        words = self._stream(x, 1, "sample", "spike bytes", timeout)
        regs = self._end()
        records = gt.parse_results([(int(w), 1) for w in words[:, 0]])
        pick = lambda key: np.array([r[key] for r in records], dtype=np.int64)  # noqa: E731
        return GlmBoardResult(decisions=pick("decision"), decision_steps=pick("step"),
                              fallbacks=pick("fallback"), cycles=regs["CYCLES"],
                              sops=regs["SOPS"], seconds=time.monotonic() - t0)


def read_build(path, design: str = "glm") -> dict:
    """A build's ``address_map.json`` (``twinspike/vivado.py``), checked to be of ``design``
    (``"glm"`` or ``"accelerator"``; :class:`BoardError` otherwise)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BoardError(f"{path}: cannot read the build record: {exc}") from None
    if not isinstance(doc, dict) or doc.get("design") != design:
        what = doc.get("design") if isinstance(doc, dict) else None
        other = "Accelerator" if design == "glm" else "GlmAccelerator"
        raise BoardError(f"{path}: design {what!r}, expected {design!r} (this bitstream was "
                         f"built for the other top: drive it with {other})")
    return doc


# ----------------------------------------------------------------------------- stand-in overlay

_SIM_LOCK = threading.Lock()      # MyHDL's simulator is process-global: one stand-in at a time
#: Where :class:`SimulatedOverlay` places its buffers (inside the PYNQ-Z2's 512 MiB of DDR,
#: page aligned, as the CMA pool of a PYNQ image does), and the pool's size.
SIM_CMA_BASE, SIM_CMA_SIZE = 0x1800_0000, 0x0800_0000


class SimBuffer(np.ndarray):
    """A buffer of :meth:`SimulatedOverlay.allocate` (``pynq.allocate``'s interface): a numpy
    array with a simulated ``physical_address`` (page aligned, in the overlay's pool),
    ``flush()`` -- its bytes become what the simulated top's DDR weight master reads there
    (``hw/top.Host.put_ddr``; like a real flush from the CPU caches, nothing reaches the PL
    before it) -- ``invalidate()`` (nothing to do) and ``freebuffer()`` (the address is
    returned to the pool and the simulated DDR forgets what was flushed there)."""

    def __new__(cls, overlay: "SimulatedOverlay", shape, dtype):
        array = np.zeros(shape, dtype=dtype).view(cls)
        array._sim = SimpleNamespace(overlay=overlay, root=array, flushed=False, freed=False,
                                     address=overlay._take(array.nbytes), nbytes=array.nbytes)
        return array

    def __array_finalize__(self, obj) -> None:
        self._sim = getattr(obj, "_sim", None)      # views share their buffer's state

    @property
    def physical_address(self) -> int:
        return self._sim.address

    device_address = physical_address

    def flush(self) -> None:
        sim = self._sim
        if sim.freed:
            raise RuntimeError("flush() of a freed buffer")
        data = np.ascontiguousarray(sim.root.view(np.ndarray)).view(np.uint8).reshape(-1)
        data = np.concatenate([data, np.zeros(-len(data) % 8, np.uint8)])
        sim.overlay._post(("ddr_put", sim.address, [int(w) for w in data.view("<u8")]))
        sim.flushed = True

    def invalidate(self) -> None:
        pass

    def freebuffer(self) -> None:
        sim = self._sim
        if sim.freed:
            return
        sim.freed = True
        if sim.flushed:
            try:
                sim.overlay._post(("ddr_free", sim.address, sim.nbytes))
            except RuntimeError:          # the overlay is closed: its DDR is gone anyway
                pass
        sim.overlay._give(sim.address, sim.nbytes)

    close = freebuffer


class _Transfer:
    def __init__(self, buffer, n: int):
        self.buffer, self.n = buffer, n
        self.end = 0
        self.error: str | None = None
        self.done = threading.Event()


class _SimChannel:
    """One DMA channel of :class:`SimulatedOverlay` (``pynq.lib.dma`` simple mode)."""

    def __init__(self, overlay: "SimulatedOverlay", kind: str):
        self._ov, self.kind, self._active = overlay, kind, None

    @property
    def idle(self) -> bool:
        return self._active is None or self._active.done.is_set()

    def transfer(self, buffer) -> None:
        if not self.idle:
            raise RuntimeError(f"simulated DMA {self.kind} channel is not idle")
        flat = np.asarray(buffer).reshape(-1)
        self._active = _Transfer(buffer if self.kind == "recv" else flat.copy(), flat.size)
        self._ov._post((self.kind, self._active))

    def wait(self) -> None:
        if self._active is None:
            return
        self._ov._await(self._active.done, f"DMA {self.kind} transfer of {self._active.n} beats")
        if self._active.error:
            raise RuntimeError(f"simulated DMA {self.kind}: {self._active.error}")

    def stop(self) -> None:
        """Abort the pending transfer (beats not yet taken are dropped)."""
        done = threading.Event()
        self._ov._post(("abort", self.kind, done))
        self._ov._await(done, f"abort of the DMA {self.kind} channel")
        self._active = None

    def start(self) -> None:
        pass


class _SimMMIO:
    """The AXI4-Lite slave of :class:`SimulatedOverlay`. Writes are posted (queued in order,
    as on the bus); a write answered SLVERR raises at the next access (on a Zynq it is a bus
    error); reads wait for their answer."""

    def __init__(self, overlay: "SimulatedOverlay"):
        self._ov = overlay

    def write(self, offset_: int, value: int) -> None:
        self._ov._raise_bus_error()
        if not 0 <= int(value) < 1 << 32:
            raise ValueError(f"MMIO write {offset_:#x}: value {value} is not a 32-bit word")
        self._ov._post(("write", int(offset_), int(value)))

    def read(self, offset_: int) -> int:
        self._ov._raise_bus_error()
        box, done = [], threading.Event()
        self._ov._post(("read", int(offset_), box, done))
        self._ov._await(done, f"MMIO read of {offset_:#x}")
        self._ov._raise_bus_error()        # from a write posted before this read
        resp, data = box[0]
        if resp != RESP_OKAY:
            raise RuntimeError(f"simulated bus error: RRESP {resp} reading {offset_:#x}")
        return data


class SimulatedOverlay:
    """A **stand-in for the board**: ``mmio``, ``dma`` and ``allocate`` as
    :class:`Accelerator` and :class:`GlmAccelerator` take them, driving the MyHDL top of
    ``params`` in a background thread, so the drivers can be tried (and are tested) without a
    PYNQ-Z2. ``params``: :class:`AcceleratorParams` simulates the IF top (``hw/top.py``),
    :class:`GlmNeuronParams` the GLM top generated for them (``hw/glm_top.py``).

    The thread runs one MyHDL simulation (``hw/top.simulate_host`` or
    ``hw/glm_top.simulate_host``: the top and ``hw/top.Host``, the bus-functional PS side)
    whose main process takes requests from a queue -- register write (posted), register read
    (answered through an event), DMA send (beats appended to the input stream's source,
    ``TLAST`` on the buffer's last element; done when all
    were taken), DMA receive (done once ``n`` result beats arrived, ``TLAST`` checked on the
    last and only there), abort -- and advances the clock while no request waits. With no
    request and no pending transfer for ``pause_s`` it pauses (simulated time stands still,
    no CPU is used); after ``max_idle_s`` of that it stops itself. Callers wait at most
    ``answer_s`` for an answer (``TimeoutError``); an exception in the simulation is re-raised
    to them. :meth:`close` (or leaving the ``with`` block) stops it. ``gap``, ``stall`` and
    ``max_delay`` are the :class:`~twinspike.hw.top.Host` stall probabilities and bus delays
    (0: fastest). One stand-in at a time per process (MyHDL's simulator is global)."""

    CHUNK = 32            # cycles simulated between looks at the queue

    def __init__(self, params: AcceleratorParams | GlmNeuronParams = AcceleratorParams(), *,
                 seed: int = 0, gap: float = 0.0, stall: float = 0.0, max_delay: int = 0,
                 answer_s: float = 60.0, pause_s: float = 0.2, max_idle_s: float = 120.0):
        if not isinstance(params, (AcceleratorParams, GlmNeuronParams)):
            raise TypeError(f"SimulatedOverlay(params): expected AcceleratorParams (the IF top) "
                            f"or GlmNeuronParams (the GLM top), got {type(params).__name__}")
        if not _SIM_LOCK.acquire(blocking=False):
            raise RuntimeError("another SimulatedOverlay is running in this process; close() it "
                               "first (MyHDL simulates one design at a time)")
        self.params, self.answer_s = params, answer_s
        self._host_kw = dict(seed=seed, gap=gap, stall=stall, max_delay=max_delay)
        self._pause_s, self._max_idle_s = pause_s, max_idle_s
        self._requests: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._bus_error: str | None = None
        self.stopped = threading.Event()
        self._pool_lock = threading.Lock()
        self._pool_next, self._pool_free = SIM_CMA_BASE, {}
        self.mmio = _SimMMIO(self)
        self.dma = SimpleNamespace(sendchannel=_SimChannel(self, "send"),
                                   recvchannel=_SimChannel(self, "recv"))
        self._thread = threading.Thread(target=self._main, name="twinspike-simulated-overlay",
                                        daemon=True)
        self._thread.start()

    def allocate(self, shape, dtype=np.uint32) -> SimBuffer:
        """A zeroed :class:`SimBuffer` (``pynq.allocate``'s interface): a numpy array with a
        simulated physical address; ``flush()`` makes its contents what the top's DDR
        weight master reads there. The DMA channels read and fill buffers directly (PYNQ's
        DMA driver flushes and invalidates them itself)."""
        return SimBuffer(self, shape, dtype)

    def _take(self, nbytes: int) -> int:
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        with self._pool_lock:
            if self._pool_free.get(size):
                return self._pool_free[size].pop()
            if self._pool_next + size > SIM_CMA_BASE + SIM_CMA_SIZE:
                raise MemoryError(f"simulated CMA pool exhausted ({SIM_CMA_SIZE:,} bytes)")
            addr, self._pool_next = self._pool_next, self._pool_next + size
            return addr

    def _give(self, addr: int, nbytes: int) -> None:
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        with self._pool_lock:
            self._pool_free.setdefault(size, []).append(addr)

    def ddr_read(self, address: int, n: int) -> list[int | None]:
        """The simulated DDR's ``n`` 64-bit words from byte ``address`` as the weight master
        sees them (None: never flushed there)."""
        box, done = [], threading.Event()
        self._post(("ddr_read", address, n, box, done))
        self._await(done, f"read of the simulated DDR at {address:#x}")
        return box[0]

    def set_ddr_response(self, resp: int) -> None:
        """What the simulated DDR answers each read beat from now on (``RRESP``: 0 OKAY,
        2 SLVERR, 3 DECERR); anything but OKAY stops the run with ``ERROR`` 6 ``DDR_READ``."""
        if resp not in (0, 1, 2, 3):
            raise ValueError(f"resp={resp!r}: expected an RRESP code 0..3")
        self._post(("ddr_resp", resp))

    def close(self) -> None:
        """Stop the simulation thread and wait for it (at most a few seconds)."""
        if self._thread.is_alive():
            self._requests.put(("stop",))
            self._thread.join(timeout=10)

    def __enter__(self) -> "SimulatedOverlay":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- caller side

    def _post(self, request) -> None:
        if self.stopped.is_set():
            raise RuntimeError(f"the SimulatedOverlay is closed{self._why()}")
        self._requests.put(request)

    def _await(self, event: threading.Event, what: str) -> None:
        deadline = time.monotonic() + self.answer_s
        while not event.wait(0.02):
            if self.stopped.is_set() and not event.is_set():
                raise RuntimeError(f"{what}: the SimulatedOverlay stopped{self._why()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: no answer from the simulated top within "
                                   f"{self.answer_s:g} s")

    def _why(self) -> str:
        return f" ({type(self._error).__name__}: {self._error})" if self._error else ""

    def _raise_bus_error(self) -> None:
        if self._bus_error:
            msg, self._bus_error = self._bus_error, None
            raise RuntimeError(f"simulated bus error: {msg}")

    # -- simulation side

    def _main(self) -> None:
        try:
            simulate = (gt.simulate_host if isinstance(self.params, GlmNeuronParams)
                        else ht.simulate_host)
            simulate(self.params, self._scenario, **self._host_kw)
        except BaseException as exc:  # noqa: BLE001 -- handed to the callers
            self._error = exc
        finally:
            self.stopped.set()
            _SIM_LOCK.release()

    def _scenario(self, host):
        """The simulation's main process (``simulate_host`` runs it after the reset)."""
        send = recv = None
        taken = 0                          # result beats handed to receive transfers
        last = time.monotonic()
        answered = False                   # a read was just answered: its caller may go on
        while True:
            pending = send is not None or recv is not None
            recent = time.monotonic() - last < self._pause_s
            try:
                if answered:
                    req = self._requests.get(timeout=0.001)
                elif pending or recent:
                    req = self._requests.get_nowait()
                else:
                    req = self._requests.get(timeout=0.05)
            except queue.Empty:
                req = None
            answered = False
            if req is None:
                if pending or recent:
                    yield from host.cycles(self.CHUNK)
                elif time.monotonic() - last > self._max_idle_s:
                    return
            else:
                last = time.monotonic()
                kind = req[0]
                if kind == "stop":
                    return
                if kind == "write":
                    try:
                        yield from host.write(req[1], req[2])
                    except AssertionError:
                        reg = at(req[1])
                        self._bus_error = (f"SLVERR on write {req[1]:#x} "
                                           f"({reg.name if reg else 'unmapped'}) <- {req[2]:#x}")
                elif kind == "read":
                    yield from host.read(req[1], req[2])
                    req[3].set()
                    answered = True
                elif kind == "send":
                    send = req[1]
                    host.beats += [(int(v), int(i == send.n - 1))
                                   for i, v in enumerate(send.buffer)]
                    send.end = len(host.beats)
                elif kind == "recv":
                    recv = req[1]
                elif kind == "ddr_put":
                    host.put_ddr(req[1], req[2])
                elif kind == "ddr_free":
                    for a in range(req[1], req[1] + req[2], 8):
                        host.ddr.pop(a, None)
                elif kind == "ddr_read":
                    req[3].append([host.ddr.get(req[1] + 8 * i) for i in range(req[2])])
                    req[4].set()
                    answered = True
                elif kind == "ddr_resp":
                    host.ddr_resp = req[1]
                elif kind == "abort":
                    if req[1] == "send" and send is not None:
                        del host.beats[max(host.sent, send.end - send.n):]
                        send.error = "aborted"
                        send.done.set()
                        send = None
                    elif req[1] == "recv":
                        taken = len(host.results)      # words of the aborted run are dropped
                        if recv is not None:
                            recv.error = "aborted"
                            recv.done.set()
                            recv = None
                    req[2].set()
            if send is not None and host.sent >= send.end:
                send.done.set()
                send = None
            if recv is not None and len(host.results) - taken >= recv.n:
                beats = host.results[taken:taken + recv.n]
                taken += recv.n
                lasts = [i for i, (_, tl) in enumerate(beats) if tl]
                if lasts != [recv.n - 1]:
                    recv.error = (f"TLAST on result beats {lasts} of a {recv.n}-beat transfer "
                                  f"(expected only on beat {recv.n - 1})")
                recv.buffer.reshape(-1)[:] = [d for d, _ in beats]   # a view: contiguous
                recv.done.set()
                recv = None
