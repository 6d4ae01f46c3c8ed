"""Probabilistic GLM SNN with binary synapses (SpinAPS), trained by first-to-spike likelihood.

* ``model`` -- the torch model, its exact likelihood, training, export to the ``glm_neuron``
  unit (``sw/glm_neuron.py``), and the ANN baselines of the same size
* ``experiment`` -- ``twinspike glm``: accuracy vs T on the unit's Cython twin, a MyHDL check,
  the markdown table and the plot
"""
