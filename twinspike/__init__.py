"""twinspike: twin (MyHDL hardware + Cython software) event-driven SNN accelerators.

Sub-packages (installed from the repository's top-level folders):

* ``twinspike.sw`` -- readable references and parameter objects (the contract)
* ``twinspike.hw`` -- MyHDL hardware twins, converted to VHDL/Verilog
* ``twinspike.ext`` -- Cython software twins (compiled, OpenMP)
* ``twinspike.equivalence`` -- Hypothesis strategies and twin-vs-twin harnesses
"""
__version__ = "0.1.0"
