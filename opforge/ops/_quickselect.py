"""The portable body of KthValue: torch.kthvalue's quickselect replayed in ONNX, all slices at once.

torch.kthvalue (CPU) runs a median-of-three quickselect (``quick_select_template``) that swaps values
and indices together, and returns what lands at rank k; among tied values the index is whatever the
partitioning leaves there, so a sort (TopK) cannot reproduce it. This body runs the same algorithm
(:func:`opforge.ops._order_stats.quickselect` is its Python replay) in one ONNX Loop, as a state
machine stepped for every slice at once: each iteration moves each slice's algorithm by one step (one
pointer move, one swap or one partition set-up), masked by its phase, until every slice is done. The
number of iterations is about the number of pointer moves of the slowest slice (a few times its
length on typical data), so this body is exact but slow on long slices.

Phases: 0 set up a partition (or finish a range of 1 or 2), 1 advance i, 2 scan i up, 3 scan j
down (then swap i and j, or end the partition), 4 put the pivot in place and narrow [lo, hi], 5 done.
"""

from __future__ import annotations

from onnxscript import opset18 as op
from onnxscript import script

from ._common import BODY_LIB


@script(BODY_LIB, default_opset=op)
def quickselect(x, k: int, dim: int):  # noqa: ANN001, ANN201
    """(values, indices) torch.kthvalue gives, keepdim=True, for x of rank >= 1 (``k`` counts from 1)."""
    axis = op.Unsqueeze(op.Constant(value_int=dim), op.Constant(value_ints=[0]))
    shape = op.Shape(x)
    n = op.Gather(shape, axis)
    positions = op.Range(op.Constant(value_int=0), op.Squeeze(n), op.Constant(value_int=1))
    # positions laid along dim: shape 1 everywhere but n at dim
    ones = op.Expand(op.Constant(value_ints=[1]), op.Shape(shape))
    along = op.ScatterElements(ones, axis, n)
    ix = op.Expand(op.Reshape(positions, along), shape)
    v = op.Identity(x)
    zero = op.ReduceMin(op.Mul(ix, op.Constant(value_int=0)), axis, keepdims=1)  # a 0 per slice
    one = op.Add(zero, op.Constant(value_int=1))
    kk = op.Sub(op.Add(zero, op.Constant(value_int=k)), one)
    lo = op.Identity(zero)
    hi = op.Sub(op.Add(zero, op.Squeeze(n)), one)
    i = op.Identity(zero)
    j = op.Identity(zero)
    phase = op.Identity(zero)
    pivot = op.GatherElements(v, zero, axis=dim)
    running = op.Greater(op.ReduceSum(op.Cast(op.Less(phase, op.Constant(value_int=5)), to=7), keepdims=0),
                         op.Constant(value_int=0))
    while running:
        # every position read or swapped is clamped to 0 in slices the step does not touch (a finished
        # slice's lo + 1 may be n)
        # phase 0: a range of 1 is done; of 2, ordered and done; otherwise the median of three
        p0 = op.Equal(phase, op.Constant(value_int=0))
        small = op.And(p0, op.LessOrEqual(hi, op.Add(lo, one)))
        two = op.And(p0, op.Equal(hi, op.Add(lo, one)))
        setup = op.And(p0, op.Not(small))
        a_lo = op.Where(p0, lo, zero)
        a_hi = op.Where(p0, hi, zero)
        a_lo1 = op.Where(setup, op.Add(lo, one), zero)
        a_mid = op.Where(setup, op.Add(lo, op.Div(op.Sub(hi, lo), op.Constant(value_int=2))), zero)
        ga1 = op.GatherElements(v, a_lo, axis=dim)
        gb1 = op.GatherElements(v, a_hi, axis=dim)
        gt1 = op.Or(op.And(op.Not(op.Equal(ga1, ga1)), op.Equal(gb1, gb1)), op.Greater(ga1, gb1))
        two_swap = op.And(two, gt1)
        sa1 = op.Identity(a_lo)
        sb1 = op.Identity(a_hi)
        va1 = op.GatherElements(v, sa1, axis=dim)
        vb1 = op.GatherElements(v, sb1, axis=dim)
        ia1 = op.GatherElements(ix, sa1, axis=dim)
        ib1 = op.GatherElements(ix, sb1, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa1, op.Where(two_swap, vb1, va1), axis=dim), sb1,
                               op.Where(two_swap, va1, vb1), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa1, op.Where(two_swap, ib1, ia1), axis=dim), sb1,
                                op.Where(two_swap, ia1, ib1), axis=dim)
        sa2 = op.Identity(a_mid)
        sb2 = op.Identity(a_lo1)
        va2 = op.GatherElements(v, sa2, axis=dim)
        vb2 = op.GatherElements(v, sb2, axis=dim)
        ia2 = op.GatherElements(ix, sa2, axis=dim)
        ib2 = op.GatherElements(ix, sb2, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa2, op.Where(setup, vb2, va2), axis=dim), sb2,
                               op.Where(setup, va2, vb2), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa2, op.Where(setup, ib2, ia2), axis=dim), sb2,
                                op.Where(setup, ia2, ib2), axis=dim)
        ga2 = op.GatherElements(v, a_lo1, axis=dim)
        gb2 = op.GatherElements(v, a_hi, axis=dim)
        gt2 = op.Or(op.And(op.Not(op.Equal(ga2, ga2)), op.Equal(gb2, gb2)), op.Greater(ga2, gb2))
        s1 = op.And(setup, gt2)
        sa3 = op.Identity(a_lo1)
        sb3 = op.Identity(a_hi)
        va3 = op.GatherElements(v, sa3, axis=dim)
        vb3 = op.GatherElements(v, sb3, axis=dim)
        ia3 = op.GatherElements(ix, sa3, axis=dim)
        ib3 = op.GatherElements(ix, sb3, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa3, op.Where(s1, vb3, va3), axis=dim), sb3,
                               op.Where(s1, va3, vb3), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa3, op.Where(s1, ib3, ia3), axis=dim), sb3,
                                op.Where(s1, ia3, ib3), axis=dim)
        ga3 = op.GatherElements(v, a_lo, axis=dim)
        gb3 = op.GatherElements(v, a_hi, axis=dim)
        gt3 = op.Or(op.And(op.Not(op.Equal(ga3, ga3)), op.Equal(gb3, gb3)), op.Greater(ga3, gb3))
        s2 = op.And(setup, gt3)
        sa4 = op.Identity(a_lo)
        sb4 = op.Identity(a_hi)
        va4 = op.GatherElements(v, sa4, axis=dim)
        vb4 = op.GatherElements(v, sb4, axis=dim)
        ia4 = op.GatherElements(ix, sa4, axis=dim)
        ib4 = op.GatherElements(ix, sb4, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa4, op.Where(s2, vb4, va4), axis=dim), sb4,
                               op.Where(s2, va4, vb4), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa4, op.Where(s2, ib4, ia4), axis=dim), sb4,
                                op.Where(s2, ia4, ib4), axis=dim)
        ga4 = op.GatherElements(v, a_lo1, axis=dim)
        gb4 = op.GatherElements(v, a_lo, axis=dim)
        gt4 = op.Or(op.And(op.Not(op.Equal(ga4, ga4)), op.Equal(gb4, gb4)), op.Greater(ga4, gb4))
        s3 = op.And(setup, gt4)
        sa5 = op.Identity(a_lo1)
        sb5 = op.Identity(a_lo)
        va5 = op.GatherElements(v, sa5, axis=dim)
        vb5 = op.GatherElements(v, sb5, axis=dim)
        ia5 = op.GatherElements(ix, sa5, axis=dim)
        ib5 = op.GatherElements(ix, sb5, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa5, op.Where(s3, vb5, va5), axis=dim), sb5,
                               op.Where(s3, va5, vb5), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa5, op.Where(s3, ib5, ia5), axis=dim), sb5,
                                op.Where(s3, ia5, ib5), axis=dim)
        p1 = op.Equal(phase, op.Constant(value_int=1))
        p2 = op.Equal(phase, op.Constant(value_int=2))
        p3 = op.Equal(phase, op.Constant(value_int=3))
        p4 = op.Equal(phase, op.Constant(value_int=4))
        # phase 2: while pivot > v[i]: i += 1; then j -= 1 and scan j
        ga5 = op.Identity(pivot)
        gb5 = op.GatherElements(v, op.Where(p2, i, zero), axis=dim)
        gt5 = op.Or(op.And(op.Not(op.Equal(ga5, ga5)), op.Equal(gb5, gb5)), op.Greater(ga5, gb5))
        i_low = op.And(p2, gt5)
        i_done = op.And(p2, op.Not(i_low))
        # phase 3: while v[j] > pivot: j -= 1; then swap i and j (and advance i) or end the partition
        ga6 = op.GatherElements(v, op.Where(p3, j, zero), axis=dim)
        gb6 = op.Identity(pivot)
        gt6 = op.Or(op.And(op.Not(op.Equal(ga6, ga6)), op.Equal(gb6, gb6)), op.Greater(ga6, gb6))
        j_high = op.And(p3, gt6)
        j_done = op.And(p3, op.Not(j_high))
        crossed = op.And(j_done, op.Less(j, i))
        exchange = op.And(j_done, op.Not(crossed))
        sa6 = op.Where(exchange, i, zero)
        sb6 = op.Where(exchange, j, zero)
        va6 = op.GatherElements(v, sa6, axis=dim)
        vb6 = op.GatherElements(v, sb6, axis=dim)
        ia6 = op.GatherElements(ix, sa6, axis=dim)
        ib6 = op.GatherElements(ix, sb6, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa6, op.Where(exchange, vb6, va6), axis=dim), sb6,
                               op.Where(exchange, va6, vb6), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa6, op.Where(exchange, ib6, ia6), axis=dim), sb6,
                                op.Where(exchange, ia6, ib6), axis=dim)
        # phase 4: swap the pivot into j, keep the side that holds rank k
        sa7 = op.Where(p4, lo, zero)
        sb7 = op.Where(p4, j, zero)
        va7 = op.GatherElements(v, sa7, axis=dim)
        vb7 = op.GatherElements(v, sb7, axis=dim)
        ia7 = op.GatherElements(ix, sa7, axis=dim)
        ib7 = op.GatherElements(ix, sb7, axis=dim)
        v = op.ScatterElements(op.ScatterElements(v, sa7, op.Where(p4, vb7, va7), axis=dim), sb7,
                               op.Where(p4, va7, vb7), axis=dim)
        ix = op.ScatterElements(op.ScatterElements(ix, sa7, op.Where(p4, ib7, ia7), axis=dim), sb7,
                                op.Where(p4, ia7, ib7), axis=dim)
        new_lo = op.Where(op.And(p4, op.LessOrEqual(j, kk)), i, lo)
        new_hi = op.Where(op.And(p4, op.GreaterOrEqual(j, kk)), op.Sub(j, one), hi)
        i = op.Where(setup, a_lo1, op.Where(op.Or(p1, i_low), op.Add(i, one), i))
        j = op.Where(setup, hi, op.Where(op.Or(i_done, j_high), op.Sub(j, one), j))
        pivot = op.Where(setup, op.GatherElements(v, a_lo, axis=dim), pivot)
        lo = op.Identity(new_lo)
        hi = op.Identity(new_hi)
        phase = op.Where(small, op.Constant(value_int=5),
                         op.Where(setup, one,
                                  op.Where(p1, op.Constant(value_int=2),
                                           op.Where(i_done, op.Constant(value_int=3),
                                                    op.Where(exchange, one,
                                                             op.Where(crossed, op.Constant(value_int=4),
                                                                      op.Where(p4, zero, phase)))))))
        running = op.Greater(op.ReduceSum(op.Cast(op.Less(phase, op.Constant(value_int=5)), to=7), keepdims=0),
                             op.Constant(value_int=0))
    index = op.GatherElements(ix, kk, axis=dim)
    values = op.GatherElements(x, index, axis=dim)
    return values, index
