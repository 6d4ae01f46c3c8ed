"""Combinational argmax tree with ties to the lowest index (used by the decoders).

Each level pairs neighbours; a node takes its right input only if it is strictly greater, and
the left input always holds the lower indices, so equal values resolve to the lowest index, as
``np.argmax`` does. Depth is ``ceil(log2(n))`` comparators. Values are unsigned; to rank
signed values, feed them with the sign bit inverted (offset binary keeps the order).
"""
from myhdl import Signal, always_comb, block, intbv


@block
def argmax_node(a, a_index, b, b_index, best, best_index):
    """The larger of ``(a, a_index)`` and ``(b, b_index)``, ``a`` on ties. Indices are signals
    or int constants (leaves); ``best`` is None at the root, where only the index is wanted."""
    if best is None:
        @always_comb
        def pick_index():
            if b > a:
                best_index.next = b_index
            else:
                best_index.next = a_index

        return pick_index

    @always_comb
    def pick():
        if b > a:
            best.next = b
            best_index.next = b_index
        else:
            best.next = a
            best_index.next = a_index

    return pick


@block
def argmax_tree(values, index):
    """Drive ``index`` with the position of the largest of ``values`` (a list of at least two
    equally wide unsigned signals), ties to the lowest position."""
    width, index_bits = len(values[0]), len(index)
    level = [(v, i) for i, v in enumerate(values)]
    nodes = []
    while len(level) > 2:
        upper = []
        for k in range(0, len(level) - 1, 2):
            best, best_index = Signal(intbv(0)[width:]), Signal(intbv(0)[index_bits:])
            nodes.append(argmax_node(*level[k], *level[k + 1], best, best_index))
            upper.append((best, best_index))
        if len(level) % 2:  # the odd one out moves up unchanged, still the highest indices
            upper.append(level[-1])
        level = upper
    nodes.append(argmax_node(*level[0], *level[1], None, index))
    return nodes
