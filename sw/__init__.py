"""Readable reference implementations: the exact integer semantics of every block.

Each ``sw/<block>.py`` holds the block's frozen parameter object (shared by the MyHDL twin
in ``hw/`` and the Cython twin in ``ext/``) and a plain numpy/Python statement of what the
block computes, cycle by cycle where the hardware has cycles.
"""
