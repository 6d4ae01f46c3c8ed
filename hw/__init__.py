"""MyHDL hardware twins, one module per block, plus the tool chain (``hw/toolchain.py``).

Every block module exposes the same four names:

* ``Params`` -- the block's frozen parameter class (defined in ``sw/<block>.py``)
* ``ports(p)`` -- fresh top-level signals for parameters ``p``
* ``top(p)`` -- the block instance on fresh ports, for conversion and synthesis
* ``testbench(p, stimulus)`` -- a self-checking bench (convertible to VHDL) that prints one
  line per observed cycle; the equivalence harness parses those lines
"""
