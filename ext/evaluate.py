"""Fast whole-network evaluation: streams a data set through the Cython batch evaluator.

Same results as the reference ``twinspike.sw.network.run`` (proved in tests/test_network.py),
compiled once per call and run one batch at a time, so only a batch is ever converted.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from twinspike.ext import network as cy
from twinspike.ext import rate_encoder
from twinspike.sw.common import check_range
from twinspike.sw.network_model import Network
from twinspike.sw.network import (Result, argmax_lowest, check_call, check_inputs,
                                  rate_encoder_params)

COMPILED = cy.COMPILED


def evaluate(net: Network, images, T: int, batch: int = 256, progress: bool = False) -> Result:
    """Run ``images[N, *input_shape]`` through ``net`` for ``T`` timesteps, ``batch`` images per
    nogil call (tqdm bar over batches when ``progress``); returns one :class:`Result`."""
    check_call(net, np.shape(images), T)
    check_range("evaluate", "batch", batch, 1, 1 << 20)
    compiled = cy.CompiledNetwork(net)
    levels = (rate_encoder.levels(rate_encoder_params(net), T)
              if net.encoding == "rate" else None)
    starts = range(0, len(images), batch) or [0]
    parts = [cy.run_batch(compiled, check_inputs(net, images[s:s + batch], T), levels, T)
             for s in tqdm(starts, unit="batch", disable=not progress)]
    spikes, membranes, sops, population_spikes = (np.concatenate(p) for p in zip(*parts))
    counts = spikes.sum(axis=1, dtype=np.int64)
    return Result(spikes=spikes, counts=counts, predictions=argmax_lowest(counts),
                  membranes=membranes.astype(np.int64), sops=sops,
                  population_spikes=population_spikes)
