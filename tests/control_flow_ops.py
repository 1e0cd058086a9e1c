"""Control-flow layers that stock ``torch.onnx.export`` cannot export, declared as opforge ops.

Each op's torch reference holds plain Python control flow (early exits, branches on tensor
values, loops over a dynamic dim, outputs whose length depends on the data). Most have a numpy
CPU kernel; ``branch_pool`` and ``first_above`` have none, so ONNX Runtime runs their torch
reference. Every op but ``no_body`` has an onnxscript body (``@op.onnx_function``), so
``opforge.export(..., portable=True)`` files run on a plain ``onnxruntime.InferenceSession``.

Used by tests/test_control_flow.py, docs/control-flow.md and benchmarks/control_flow.py.
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto
from onnxscript import opset18 as op

import opforge

DOMAIN = "opforge.test.cf"


# -- 1. a while loop with a convergence test ------------------------------------------------------

@opforge.op(f"{DOMAIN}::NewtonSqrt")
def newton_sqrt(x: torch.Tensor, tol: float = 1e-6, max_iter: int = 60) -> torch.Tensor:
    """Square root of a positive tensor by Newton steps, until no element moves by more than tol (relative)."""
    y = torch.ones_like(x)
    for _ in range(max_iter):
        nxt = 0.5 * (y + x / y)
        done = bool(((nxt - y).abs() <= tol * nxt.abs()).all())
        y = nxt
        if done:
            break
    return y


@newton_sqrt.kernel("cpu")
def _(x: np.ndarray, *, tol: float, max_iter: int) -> np.ndarray:
    y = np.ones_like(x)
    half = x.dtype.type(0.5)
    for _ in range(max_iter):
        nxt = half * (y + x / y)
        done = bool((np.abs(nxt - y) <= x.dtype.type(tol) * np.abs(nxt)).all())
        y = nxt
        if done:
            break
    return y


@newton_sqrt.infer
def _(x: opforge.TensorSpec, *, tol: float, max_iter: int) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@newton_sqrt.onnx_function
def _(x, tol: float = 1e-6, max_iter: int = 60):
    y = op.Expand(op.CastLike(op.Constant(value_float=1.0), x), op.Shape(x))
    half = op.CastLike(op.Constant(value_float=0.5), x)
    for _ in range(max_iter):
        nxt = half * (y + x / y)
        moved = op.Greater(op.Abs(nxt - y), op.CastLike(tol, x) * op.Abs(nxt))
        done = op.Not(op.Cast(op.ReduceMax(op.Cast(moved, to=TensorProto.FLOAT), keepdims=0), to=TensorProto.BOOL))
        y = nxt
        if done:
            break
    return y


# -- 2. a recurrence over a dynamic time dim ------------------------------------------------------

@opforge.op(f"{DOMAIN}::LeakyRecurrence")
def leaky_recurrence(x: torch.Tensor, decay: float = 0.5) -> torch.Tensor:
    """h[t] = tanh(decay * h[t-1] + x[t]) over the leading (time) dim; returns every h[t]."""
    h = torch.zeros_like(x[0])
    steps = []
    for t in range(x.shape[0]):
        h = torch.tanh(decay * h + x[t])
        steps.append(h)
    return torch.stack(steps)


@leaky_recurrence.kernel("cpu")
def _(x: np.ndarray, *, decay: float) -> np.ndarray:
    out = np.empty_like(x)
    h = np.zeros_like(x[0])
    d = x.dtype.type(decay)
    for t in range(x.shape[0]):
        h = np.tanh(d * h + x[t])
        out[t] = h
    return out


@leaky_recurrence.infer
def _(x: opforge.TensorSpec, *, decay: float) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@leaky_recurrence.onnx_function
def _(x, decay: float = 0.5):
    steps = op.Squeeze(op.Slice(op.Shape(x), op.Constant(value_ints=[0]), op.Constant(value_ints=[1])))
    h = op.Mul(op.Gather(x, op.Constant(value_int=0), axis=0), op.CastLike(op.Constant(value_float=0.0), x))
    # an empty sequence of h's type; appending and concatenating once is linear (a growing Concat is not)
    seq = op.SequenceErase(op.SequenceConstruct(h), op.Constant(value_int=0))
    for t in range(steps):
        h = op.Tanh(op.CastLike(decay, x) * h + op.Gather(x, t, axis=0))
        seq = op.SequenceInsert(seq, h)
    return op.ConcatFromSequence(seq, axis=0, new_axis=1)


# -- 3. a branch whose outputs have different shapes per branch ------------------------------------

@opforge.op(f"{DOMAIN}::BranchPool")
def branch_pool(x: torch.Tensor, margin: float = 0.25) -> torch.Tensor:
    """By the mean of x (N, D): keep x doubled (N, D), sum it over rows (1, D), or mirror it (2N, D)."""
    m = float(x.mean())
    if m > margin:
        return x * 2
    if m < -margin:
        return x.sum(dim=0, keepdim=True)
    return torch.cat([x, -x])


@branch_pool.infer
def _(x: opforge.TensorSpec, *, margin: float) -> opforge.TensorSpec:
    return opforge.TensorSpec([None, x.shape[1]], x.dtype)


@branch_pool.onnx_function
def _(x, margin: float = 0.25):
    m = op.ReduceMean(x, keepdims=0)
    if m > op.CastLike(margin, x):
        y = op.Add(x, x)
    else:
        if m < op.Neg(op.CastLike(margin, x)):
            y = op.ReduceSum(x, op.Constant(value_ints=[0]), keepdims=1)
        else:
            y = op.Concat(x, op.Neg(x), axis=0)
    return y


# -- 4. a loop whose output length depends on the data ---------------------------------------------

@opforge.op(f"{DOMAIN}::Halvings")
def halvings(x: torch.Tensor, limit: float = 1.0, max_iter: int = 64) -> torch.Tensor:
    """Stack x, x/2, x/4, ... up to the first one whose largest magnitude is below limit: (K, *x.shape)."""
    steps = [x]
    y = x
    for _ in range(max_iter):
        if float(y.abs().max()) < limit:
            break
        y = y / 2
        steps.append(y)
    return torch.stack(steps)


@halvings.kernel("cpu")
def _(x: np.ndarray, *, limit: float, max_iter: int) -> np.ndarray:
    steps = [x]
    y = x
    for _ in range(max_iter):
        if float(np.abs(y).max()) < limit:
            break
        y = y / x.dtype.type(2)
        steps.append(y)
    return np.stack(steps)


@halvings.infer
def _(x: opforge.TensorSpec, *, limit: float, max_iter: int) -> opforge.TensorSpec:
    return opforge.TensorSpec([None, *x.shape], x.dtype)


@halvings.onnx_function
def _(x, limit: float = 1.0, max_iter: int = 64):
    zero = op.Constant(value_ints=[0])
    out = op.Unsqueeze(x, zero)
    y = x
    going = op.ReduceMax(op.Abs(y), keepdims=0) >= op.CastLike(limit, x)
    count = op.Constant(value_int=0)
    while going:
        y = op.Div(y, op.CastLike(op.Constant(value_float=2.0), x))
        out = op.Concat(out, op.Unsqueeze(y, zero), axis=0)
        count = count + op.Constant(value_int=1)
        going = op.And(op.ReduceMax(op.Abs(y), keepdims=0) >= op.CastLike(limit, x),
                       count < op.Constant(value_int=max_iter))
    return out


# -- 5. a loop with a branch inside it --------------------------------------------------------------

@opforge.op(f"{DOMAIN}::GatedAccumulate")
def gated_accumulate(x: torch.Tensor, decay: float = 0.5) -> torch.Tensor:
    """Walk the rows of x (T, D): add a row whose sum is positive, otherwise decay the total."""
    h = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        if float(x[t].sum()) > 0:
            h = h + x[t]
        else:
            h = h * decay
    return h


@gated_accumulate.kernel("cpu")
def _(x: np.ndarray, *, decay: float) -> np.ndarray:
    h = np.zeros_like(x[0])
    for t in range(x.shape[0]):
        h = h + x[t] if float(x[t].sum()) > 0 else h * x.dtype.type(decay)
    return h


@gated_accumulate.infer
def _(x: opforge.TensorSpec, *, decay: float) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape[1:], x.dtype)


@gated_accumulate.onnx_function
def _(x, decay: float = 0.5):
    steps = op.Squeeze(op.Slice(op.Shape(x), op.Constant(value_ints=[0]), op.Constant(value_ints=[1])))
    h = op.Mul(op.Gather(x, op.Constant(value_int=0), axis=0), op.CastLike(op.Constant(value_float=0.0), x))
    for t in range(steps):
        row = op.Gather(x, t, axis=0)
        if op.ReduceSum(row, keepdims=0) > op.CastLike(op.Constant(value_float=0.0), x):
            h = h + row
        else:
            h = h * op.CastLike(decay, x)
    return h


# -- 6. two outputs of different dtypes --------------------------------------------------------------

@opforge.op(f"{DOMAIN}::FirstAbove", outputs=["total", "index"], dtypes={"index": ["int64"]})
def first_above(x: torch.Tensor, threshold: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of x (N, D): the running sum where it first exceeds threshold, and that column (D if never)."""
    totals, indices = [], []
    for row in x:
        total = row.new_zeros(())
        index = row.shape[0]
        for j in range(row.shape[0]):
            total = total + row[j]
            if float(total) > threshold:
                index = j
                break
        totals.append(total)
        indices.append(index)
    return torch.stack(totals), torch.tensor(indices, dtype=torch.int64)


@first_above.infer
def _(x: opforge.TensorSpec, *, threshold: float) -> tuple[opforge.TensorSpec, opforge.TensorSpec]:
    return opforge.TensorSpec([x.shape[0]], x.dtype), opforge.TensorSpec([x.shape[0]], "int64")


@first_above.onnx_function
def _(x, threshold: float = 1.0):
    one = op.Constant(value_ints=[1])
    width = op.Gather(op.Shape(x), one)  # (1,)
    running = op.CumSum(x, op.Constant(value_int=1))
    above = op.Greater(running, op.CastLike(threshold, x))
    found = op.Cast(op.ReduceMax(op.Cast(above, to=TensorProto.FLOAT), one, keepdims=0), to=TensorProto.BOOL)
    first = op.ArgMax(op.Cast(above, to=TensorProto.INT32), axis=1, keepdims=1)  # (N, 1)
    last = op.Expand(op.Sub(width, one), op.Shape(first))
    stop = op.Where(op.Unsqueeze(found, one), first, last)
    total = op.Squeeze(op.GatherElements(running, stop, axis=1), one)
    index = op.Where(found, op.Squeeze(first, one), op.Expand(width, op.Shape(found)))
    return total, index


# -- an op with a kernel but no portable body (portable export must name it) -------------------------

@opforge.op(f"{DOMAIN}::NoBody")
def no_body(x: torch.Tensor) -> torch.Tensor:
    """Cumulative maximum along the first dim, as a Python loop."""
    out = [x[0]]
    for t in range(1, x.shape[0]):
        out.append(torch.maximum(out[-1], x[t]))
    return torch.stack(out)


@no_body.infer
def _(x: opforge.TensorSpec) -> opforge.TensorSpec:
    return opforge.TensorSpec(x.shape, x.dtype)


@no_body.kernel("cpu")
def _(x: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(x, axis=0)
