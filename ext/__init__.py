"""Cython software twins: bit-exact with the MyHDL blocks, fast for batch evaluation.

Every kernel module sets ``COMPILED = cython.compiled``; ``tests/test_packaging.py`` fails if
any of them is not a compiled extension. There is deliberately no pure-Python fallback.
"""
