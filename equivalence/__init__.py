"""Hypothesis strategies and harnesses that run a block's twins side by side.

``equivalence/<block>.py`` provides, for one block: strategies for its parameter object and
stimulus, ``run_reference``, ``run_cython`` and ``run_myhdl`` (all returning the same
comparable structure), used by ``tests/test_<block>.py`` and by ``twinspike hdl verify``.
"""
