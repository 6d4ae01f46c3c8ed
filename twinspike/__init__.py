"""twinspike: twin (MyHDL hardware + Cython software) event-driven SNN accelerators.

Sub-packages (installed from the repository's top-level folders):

* ``twinspike.sw`` -- readable references and parameter objects (the contract)
* ``twinspike.hw`` -- MyHDL hardware twins, converted to VHDL/Verilog
* ``twinspike.ext`` -- Cython software twins (compiled, OpenMP)
* ``twinspike.equivalence`` -- Hypothesis strategies and twin-vs-twin harnesses
"""
__version__ = "0.1.0"

#: Blocks in build order; each name is a module in sw/, hw/, ext/ and equivalence/.
BLOCKS: tuple[str, ...] = ("lfsr", "rate_encoder", "if_pe_array", "spike_fifo", "dense_engine",
                            "conv_engine",
                            "glm_neuron",
                            "spike_count_decoder", "first_to_spike_decoder")
