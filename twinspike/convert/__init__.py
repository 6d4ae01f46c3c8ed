"""DNN to integer SNN conversion (the torch half of arXiv 2410.16298), needs ``torch``.

* ``quant`` -- QCFS activation, straight-through rounding, BN folding, per-layer weight
  quantisation, the surrogate spike
* ``models`` -- convertible graphs (MLP, CNN, VGG-11, ResNet-18 for 8x8 digits) and their
  stages ``fp32 -> qcfs -> quant -> snn``; the quant stage *is* the integer network (threshold
  balancing: ``theta = round(lam / s)``, ``v0 = theta // 2``)
* ``train`` -- the seeded training recipe of every stage, with a ``runs/`` cache
* ``convert`` -- a quant/snn-stage net to a :class:`twinspike.network.Network` and its
  membrane width
* ``report`` -- ``twinspike accuracy`` (docs/accuracy.md) and ``twinspike demo``
"""
