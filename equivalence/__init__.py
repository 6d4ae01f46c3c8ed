"""The proofs: Hypothesis strategies per block and the proof level table.

``equivalence/<block>.py`` provides, for one block: strategies for its parameter object and
stimulus, pinned cases, ``run_reference`` and ``run_cython`` (see ``harness.py``);
``levels.py`` compares them, and the block's MyHDL bench, level by level, for
``tests/test_equivalence.py`` and ``twinspike hdl verify``.
"""
