"""Survey: which everyday torch calls export to ONNX, with stock torch.onnx and with opforge.export?

Each catalogue entry is exported with a dynamic batch dim (dynamo exporter), run in ONNX Runtime
on two new batch sizes and compared with eager PyTorch (ONNX Runtime's tolerances,
``opforge.assert_close``). Each exporter's result is one of:

* ``ok``      - exports and matches eager on both sizes;
* ``export``  - export fails ("No ONNX function found", ...);
* ``runtime`` - exports, but ONNX Runtime rejects or fails the model;
* ``wrong``   - runs, but gives different numbers or shapes with no error (silently wrong).

Results are cached per entry in ``build/survey_cache.json`` (the run resumes where it stopped;
``--fresh`` starts over) and written to ``docs/survey.md``.

    python tools/survey_export.py [--only NAME_SUBSTRING] [--fresh] [--out docs/survey.md]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "survey_cache.json"
EXPORT_BATCH, RUN_BATCHES = 3, (2, 5)


# -- inputs ---------------------------------------------------------------------------------------

def make_input(spec: str, n: int, g: torch.Generator) -> torch.Tensor:
    """A tensor with leading (dynamic) batch dim ``n``. ``spec`` is ``kind:d1,d2``:
    f normal, p positive, u in (0, 1), s sorted along the last dim, iK ints in [0, K), b bool,
    m well-conditioned square matrices (``m:3`` gives (n, 3, 3))."""
    kind, _, dims = spec.partition(":")
    shape = (n, *[int(d) for d in dims.split(",") if d])
    if kind == "f":
        return torch.randn(shape, generator=g)
    if kind == "p":
        return torch.rand(shape, generator=g) * 2 + 0.1
    if kind == "u":
        return torch.rand(shape, generator=g) * 0.8 + 0.1
    if kind == "s":
        return torch.sort(torch.randn(shape, generator=g), dim=-1)[0]
    if kind == "b":
        return torch.rand(shape, generator=g) > 0.5
    if kind.startswith("i"):
        return torch.randint(0, int(kind[1:]), shape, generator=g)
    if kind == "m":
        k = shape[1]
        return torch.randn((n, k, k), generator=g) + k * torch.eye(k)
    raise ValueError(f"unknown input spec {spec!r}")


@dataclass
class Entry:
    name: str
    fn: Callable
    inputs: tuple[str, ...]

    def args(self, n: int, seed: int) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return tuple(make_input(s, n, g) for s in self.inputs)


def _scatter_reduce_call(reduce: str, include_self: bool) -> Callable:
    return lambda x, i, s: x.scatter_reduce(1, i, s, reduce=reduce, include_self=include_self)


def catalogue() -> list[Entry]:
    """The surveyed calls: torch, torch.linalg, torch.special, torch.nn.functional, Tensor methods."""
    E = Entry  # noqa: N806
    f4, f6, f8 = ("f:4",), ("f:6",), ("f:8",)
    img = ("f:3,8,8",)
    entries = [
        # -- torch pointwise
        E("torch.abs", torch.abs, f4), E("torch.sin", torch.sin, f4), E("torch.tan", torch.tan, ("u:4",)),
        E("torch.asin", torch.asin, ("u:4",)), E("torch.acos", torch.acos, ("u:4",)),
        E("torch.atan", torch.atan, f4), E("torch.sinh", torch.sinh, f4), E("torch.cosh", torch.cosh, f4),
        E("torch.asinh", torch.asinh, f4), E("torch.acosh", lambda x: torch.acosh(x + 1), ("p:4",)),
        E("torch.atanh", torch.atanh, ("u:4",)), E("torch.exp2", torch.exp2, f4), E("torch.expm1", torch.expm1, f4),
        E("torch.log2", torch.log2, ("p:4",)), E("torch.log10", torch.log10, ("p:4",)),
        E("torch.log1p", torch.log1p, ("p:4",)), E("torch.rsqrt", torch.rsqrt, ("p:4",)),
        E("torch.erf", torch.erf, f4), E("torch.erfc", torch.erfc, f4), E("torch.erfinv", torch.erfinv, ("u:4",)),
        E("torch.lgamma", torch.lgamma, ("p:4",)), E("torch.digamma", torch.digamma, ("p:4",)),
        E("torch.polygamma(1)", lambda x: torch.polygamma(1, x), ("p:4",)),
        E("torch.sign", torch.sign, f4), E("torch.sgn", torch.sgn, f4), E("torch.round", torch.round, f4),
        E("torch.round(decimals=2)", lambda x: torch.round(x, decimals=2), f4),
        E("torch.trunc", torch.trunc, f4), E("torch.frac", torch.frac, f4),
        E("torch.clamp", lambda x: torch.clamp(x, -0.5, 0.5), f4),
        E("torch.clamp(tensor bounds)", lambda x, lo: torch.clamp(x, lo, lo + 1), ("f:4", "f:4")),
        E("torch.where", lambda c, x, y: torch.where(c, x, y), ("b:4", "f:4", "f:4")),
        E("torch.lerp", lambda x, y: torch.lerp(x, y, 0.3), ("f:4", "f:4")),
        E("torch.hypot", torch.hypot, ("f:4", "f:4")), E("torch.atan2", torch.atan2, ("f:4", "f:4")),
        E("torch.fmod", lambda x: torch.fmod(x * 5, 1.5), f4),
        E("torch.remainder", lambda x: torch.remainder(x * 5, 1.5), f4),
        E("torch.floor_divide", lambda x: torch.floor_divide(x * 5, 1.5), f4),
        E("torch.pow", lambda x: torch.pow(x, 3), f4),
        E("torch.float_power", lambda x: torch.float_power(x, 2), f4),
        E("torch.logaddexp", torch.logaddexp, ("f:4", "f:4")), E("torch.logaddexp2", torch.logaddexp2, ("f:4", "f:4")),
        E("torch.xlogy", torch.xlogy, ("f:4", "p:4")), E("torch.copysign", torch.copysign, ("f:4", "f:4")),
        E("torch.nextafter", torch.nextafter, ("f:4", "f:4")),
        E("torch.heaviside", lambda x: torch.heaviside(x, torch.tensor(0.5)), f4),
        E("torch.fmax", torch.fmax, ("f:4", "f:4")), E("torch.fmin", torch.fmin, ("f:4", "f:4")),
        E("torch.isnan", lambda x: torch.isnan(x.log()), f4), E("torch.isinf", lambda x: torch.isinf(1 / x.round()), f4),
        E("torch.isfinite", lambda x: torch.isfinite(1 / x.round()), f4),
        E("torch.nan_to_num", lambda x: torch.nan_to_num(x.log()), f4), E("torch.logit", torch.logit, ("u:4",)),
        E("torch.signbit", torch.signbit, f4), E("torch.deg2rad", torch.deg2rad, f4),
        E("torch.sinc", torch.sinc, f4), E("torch.i0", torch.i0, f4),
        # -- torch reductions and scans
        E("torch.sum(dim)", lambda x: torch.sum(x, 1), f4), E("torch.prod(dim)", lambda x: torch.prod(x, 1), f4),
        E("torch.amax", lambda x: torch.amax(x, 1), f4), E("torch.max(dim)", lambda x: torch.max(x, 1), f4),
        E("torch.argmin", lambda x: torch.argmin(x, 1), f4),
        E("torch.std", lambda x: torch.std(x, 1), f6), E("torch.var(correction=0)", lambda x: torch.var(x, 1, correction=0), f6),
        E("torch.std_mean", lambda x: torch.std_mean(x, 1), f6), E("torch.var_mean", lambda x: torch.var_mean(x, 1), f6),
        E("torch.logsumexp", lambda x: torch.logsumexp(x, 1), f4), E("torch.norm", lambda x: torch.norm(x, dim=1), f4),
        E("torch.median(dim)", lambda x: torch.median(x, 1), ("f:5",)), E("torch.median", torch.median, ("f:5",)),
        E("torch.nanmedian(dim)", lambda x: torch.nanmedian(x, 1), ("f:5",)),
        E("torch.mode", lambda x: torch.mode(x, 1), ("i3:6",)),
        E("torch.kthvalue", lambda x: torch.kthvalue(x, 2, 1), ("f:5",)),
        E("torch.quantile", lambda x: torch.quantile(x, 0.3, dim=1), f6),
        E("torch.nanquantile", lambda x: torch.nanquantile(x, 0.3, dim=1), f6),
        E("torch.nansum", lambda x: torch.nansum(x.log(), 1), f4), E("torch.nanmean", lambda x: torch.nanmean(x.log(), 1), f4),
        E("torch.count_nonzero", lambda x: torch.count_nonzero(x.round(), 1), f4),
        E("torch.all", lambda x: torch.all(x, 1), ("b:4",)), E("torch.aminmax", lambda x: torch.aminmax(x, dim=1), f4),
        E("torch.cumsum", lambda x: torch.cumsum(x, 1), f6), E("torch.cumprod", lambda x: torch.cumprod(x, 1), f6),
        E("torch.cummax", lambda x: torch.cummax(x, 1), f6), E("torch.cummin", lambda x: torch.cummin(x, 1), f6),
        E("torch.cummax(dim=0)", lambda x: torch.cummax(x, 0), f6),
        E("torch.logcumsumexp", lambda x: torch.logcumsumexp(x, 1), f6),
        E("torch.diff", lambda x: torch.diff(x, dim=1), f6), E("torch.topk", lambda x: torch.topk(x, 3, 1), f6),
        E("torch.sort", lambda x: torch.sort(x, 1), f6), E("torch.sort(stable)", lambda x: torch.sort(x, dim=1, stable=True), ("i3:6",)),
        E("torch.argsort", lambda x: torch.argsort(x, 1, descending=True), f6), E("torch.msort", torch.msort, f6),
        # -- torch indexing, scatter, shape
        E("torch.gather", lambda x, i: torch.gather(x, 1, i), ("f:6", "i6:4")),
        E("torch.scatter", lambda x, i, s: torch.scatter(x, 1, i, s), ("f:6", "i6:4", "f:4")),
        E("torch.scatter_add", lambda x, i, s: torch.scatter_add(x, 1, i, s), ("f:6", "i6:4", "f:4")),
        E("Tensor.scatter(reduce='add')", lambda x, i, s: x.scatter(1, i, s, reduce="add"), ("f:6", "i6:4", "f:4")),
        E("Tensor.scatter(reduce='multiply')", lambda x, i, s: x.scatter(1, i, s, reduce="multiply"), ("f:6", "i6:4", "f:4")),
        *[E(f"Tensor.scatter_reduce(reduce='{r}'{'' if inc else ', include_self=False'})",
            _scatter_reduce_call(r, inc),
            ("f:6", "i6:8", "f:8"))
          for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)],
        E("torch.scatter_reduce(int64 mean)", lambda x, i, s: torch.scatter_reduce(x, 1, i, s, "mean"),
          ("i9:6", "i6:8", "i9:8")),
        E("torch.index_select", lambda x: torch.index_select(x, 1, torch.tensor([2, 0, 2])), f4),
        E("Tensor.index_add", lambda x, s: x.index_add(1, torch.tensor([0, 2, 2]), s), ("f:4", "f:3")),
        E("Tensor.index_copy", lambda x, s: x.index_copy(1, torch.tensor([0, 3, 1]), s), ("f:4", "f:3")),
        E("Tensor.index_fill", lambda x: x.index_fill(1, torch.tensor([0, 2]), -1.0), f4),
        E("Tensor.index_reduce(mean)", lambda x, s: x.index_reduce(1, torch.tensor([0, 2, 2]), s, "mean"), ("f:4", "f:3")),
        E("Tensor.index_reduce(amax)", lambda x, s: x.index_reduce(1, torch.tensor([0, 2, 2]), s, "amax"), ("f:4", "f:3")),
        # one row of v broadcast to the three indexed rows (v itself has the batch dim, which the index does not)
        E("Tensor.index_put(accumulate)", lambda x, v: x.index_put((torch.tensor([0, 0, 1]),), v[0], accumulate=True),
          ("f:4", "f:4")),
        E("Tensor.masked_fill", lambda x, m: x.masked_fill(m, 0.0), ("f:4", "b:4")),
        E("Tensor.masked_scatter", lambda x, m: x.masked_scatter(m, x * 2), ("f:4", "b:4")),
        E("torch.take_along_dim", lambda x, i: torch.take_along_dim(x, i, 1), ("f:6", "i6:4")),
        E("torch.roll", lambda x: torch.roll(x, 2, 1), f6), E("torch.flip", lambda x: torch.flip(x, [1]), f6),
        E("torch.rot90", lambda x: torch.rot90(x, 1, [1, 2]), ("f:3,4",)), E("torch.tril", torch.tril, ("f:4,4",)),
        E("torch.triu(diagonal=1)", lambda x: torch.triu(x, 1), ("f:4,4",)),
        E("torch.diag_embed", torch.diag_embed, f4), E("torch.diagonal", lambda x: torch.diagonal(x, dim1=1, dim2=2), ("f:4,4",)),
        E("torch.repeat_interleave", lambda x: torch.repeat_interleave(x, 2, dim=1), f4),
        E("torch.repeat_interleave(tensor)", lambda x: torch.repeat_interleave(x, torch.tensor([1, 2, 0, 3]), dim=1), f4),
        E("torch.tile", lambda x: torch.tile(x, (1, 2)), f4), E("torch.chunk", lambda x: torch.chunk(x, 2, 1), f4),
        E("torch.unbind", lambda x: torch.unbind(x, 1), f4), E("torch.movedim", lambda x: torch.movedim(x, 1, 2), ("f:3,4",)),
        E("torch.unflatten", lambda x: torch.unflatten(x, 1, (2, 3)), f6),
        E("torch.searchsorted", lambda s, v: torch.searchsorted(s, v), ("s:8", "f:5")),
        E("torch.searchsorted(right=True)", lambda s, v: torch.searchsorted(s, v, right=True), ("s:8", "f:5")),
        E("torch.searchsorted(side='right', int32)", lambda s, v: torch.searchsorted(s, v, side="right", out_int32=True),
          ("s:8", "f:5")),
        E("torch.bucketize", lambda v: torch.bucketize(v, torch.tensor([-1.0, 0.0, 0.5, 1.0])), f4),
        E("torch.histc", lambda x: torch.histc(x, 5, -2, 2), f8),
        E("torch.isin", lambda x, y: torch.isin(x, y), ("i5:4", "i5:3")),
        E("torch.cdist", lambda x, y: torch.cdist(x, y), ("f:4,3", "f:5,3")),
        E("torch.cross", lambda x, y: torch.cross(x, y, dim=-1), ("f:3", "f:3")),
        E("torch.outer", lambda x: torch.outer(x[0], x[1]), f4),
        E("torch.einsum", lambda x, y: torch.einsum("bij,bjk->bik", x, y), ("f:3,4", "f:4,2")),
        E("torch.baddbmm", lambda a, x, y: torch.baddbmm(a, x, y), ("f:3,2", "f:3,4", "f:4,2")),
        E("torch.kron", lambda x, y: torch.kron(x, y), ("f:2", "f:3")),
        E("torch.gradient", lambda x: torch.gradient(x, spacing=0.5, dim=1)[0], f6),
        E("torch.gradient(edge_order=2)", lambda x: torch.gradient(x, dim=1, edge_order=2)[0], f6),
        E("F.pdist", lambda x: F.pdist(x), f4),
        E("torch.cartesian_prod", lambda x: torch.cartesian_prod(x[0], x[1]), f4),
        E("torch.trapezoid", lambda x: torch.trapezoid(x, dim=1), f6),
        E("torch.renorm", lambda x: torch.renorm(x, 2, 0, 1.0), f4),
        # contracts the two size-4 dims (contracting x's 4 with y's batch dim held only at batch 4)
        E("torch.tensordot", lambda x, y: torch.tensordot(x, y, dims=([1], [1])), ("f:4", "f:4,3")),
        # -- torch.linalg
        E("torch.linalg.solve", torch.linalg.solve, ("m:3", "f:3,2")),
        E("torch.linalg.solve(vector)", torch.linalg.solve, ("m:3", "f:3")),
        E("torch.linalg.solve(left=False)", lambda a, b: torch.linalg.solve(a, b, left=False), ("m:3", "f:2,3")),
        E("torch.linalg.inv", torch.linalg.inv, ("m:3",)), E("torch.linalg.det", torch.linalg.det, ("m:3",)),
        E("torch.linalg.slogdet", torch.linalg.slogdet, ("m:3",)),
        E("torch.linalg.cholesky", lambda a: torch.linalg.cholesky(a @ a.mT), ("m:3",)),
        E("torch.linalg.qr", torch.linalg.qr, ("m:3",)), E("torch.linalg.eigvalsh", torch.linalg.eigvalsh, ("m:3",)),
        E("torch.linalg.svdvals", torch.linalg.svdvals, ("m:3",)),
        E("torch.linalg.norm", lambda x: torch.linalg.norm(x, dim=1), f4),
        E("torch.linalg.vector_norm(ord=3)", lambda x: torch.linalg.vector_norm(x, 3, dim=1), f4),
        E("torch.linalg.matrix_norm", torch.linalg.matrix_norm, ("m:3",)),
        E("torch.linalg.matrix_norm(ord=2)", lambda a: torch.linalg.matrix_norm(a, 2), ("m:3",)),
        E("torch.linalg.pinv", torch.linalg.pinv, ("m:3",)),
        E("torch.linalg.multi_dot", lambda a, b: torch.linalg.multi_dot([a, b.mT, a]), ("f:3", "f:3")),
        E("torch.linalg.lstsq", lambda a, b: torch.linalg.lstsq(a, b).solution, ("m:3", "f:3,2")),
        E("torch.linalg.matrix_exp", torch.linalg.matrix_exp, ("f:3,3",)),
        E("torch.linalg.matrix_power", lambda a: torch.linalg.matrix_power(a, 3), ("f:3,3",)),
        E("torch.linalg.vecdot", torch.linalg.vecdot, ("f:4", "f:4")),
        E("torch.linalg.cross", torch.linalg.cross, ("f:3", "f:3")),
        E("torch.linalg.lu_factor", lambda a: torch.linalg.lu_factor(a).LU, ("m:3",)),
        E("torch.linalg.solve_triangular", lambda a, b: torch.linalg.solve_triangular(torch.triu(a), b, upper=True),
          ("m:3", "f:3,2")),
        # -- torch.special
        E("torch.special.erfcx", torch.special.erfcx, f4), E("torch.special.ndtr", torch.special.ndtr, f4),
        E("torch.special.ndtri", torch.special.ndtri, ("u:4",)), E("torch.special.log_ndtr", torch.special.log_ndtr, f4),
        E("torch.special.i0e", torch.special.i0e, f4), E("torch.special.i1", torch.special.i1, f4),
        E("torch.special.i1e", torch.special.i1e, f4), E("torch.special.xlog1py", torch.special.xlog1py, ("f:4", "p:4")),
        E("torch.special.entr", torch.special.entr, ("p:4",)), E("torch.special.expit", torch.special.expit, f4),
        E("torch.special.gammaln", torch.special.gammaln, ("p:4",)),
        E("torch.special.multigammaln", lambda x: torch.special.multigammaln(x + 2, 2), ("p:4",)),
        E("torch.special.log_softmax", lambda x: torch.special.log_softmax(x, 1), f4),
        E("torch.special.bessel_j0", torch.special.bessel_j0, f4),
        E("torch.special.zeta", lambda x: torch.special.zeta(x + 1.5, torch.tensor(2.0)), ("p:4",)),
        # -- torch.nn.functional
        E("F.gelu(tanh)", lambda x: F.gelu(x, approximate="tanh"), f4), E("F.silu", F.silu, f4), E("F.mish", F.mish, f4),
        E("F.softplus(beta=2)", lambda x: F.softplus(x, beta=2.0), f4), E("F.elu", F.elu, f4), E("F.selu", F.selu, f4),
        E("F.celu", F.celu, f4), E("F.hardswish", F.hardswish, f4), E("F.hardsigmoid", F.hardsigmoid, f4),
        E("F.softsign", F.softsign, f4), E("F.tanhshrink", F.tanhshrink, f4), E("F.softshrink", F.softshrink, f4),
        E("F.hardshrink", F.hardshrink, f4), E("F.logsigmoid", F.logsigmoid, f4), E("F.glu", F.glu, f4),
        E("F.normalize", F.normalize, f4), E("F.layer_norm", lambda x: F.layer_norm(x, (4,)), f4),
        E("F.rms_norm", lambda x: F.rms_norm(x, (4,)), f4), E("F.group_norm", lambda x: F.group_norm(x, 2), ("f:4,5",)),
        E("F.instance_norm", F.instance_norm, ("f:4,5",)),
        E("F.local_response_norm", lambda x: F.local_response_norm(x, 2), ("f:4,5",)),
        E("F.softmax", lambda x: F.softmax(x, -1), f4), E("F.log_softmax", lambda x: F.log_softmax(x, -1), f4),
        E("F.conv1d", lambda x, w: F.conv1d(x, w[0].reshape(2, 3, 2)), ("f:3,8", "f:12")),
        E("F.max_pool1d", lambda x: F.max_pool1d(x, 2), ("f:3,8",)),
        E("F.max_pool2d(return_indices)", lambda x: F.max_pool2d(x, 2, return_indices=True), img),
        E("F.avg_pool2d(ceil_mode)", lambda x: F.avg_pool2d(x, 3, 2, ceil_mode=True), img),
        E("F.adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 3)), img),
        E("F.adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (3, 3)), img),
        E("F.lp_pool2d", lambda x: F.lp_pool2d(x, 2, 2), img),
        E("F.interpolate(nearest)", lambda x: F.interpolate(x, scale_factor=2), img),
        E("F.interpolate(bilinear, align_corners)", lambda x: F.interpolate(x, size=(5, 5), mode="bilinear",
                                                                         align_corners=True), img),
        E("F.interpolate(bicubic)", lambda x: F.interpolate(x, size=(5, 5), mode="bicubic"), img),
        E("F.interpolate(area)", lambda x: F.interpolate(x, size=(4, 4), mode="area"), img),
        E("F.grid_sample", lambda x, g: F.grid_sample(x, g.tanh(), align_corners=False), ("f:3,8,8", "f:4,4,2")),
        E("F.pad(reflect)", lambda x: F.pad(x, (1, 2), mode="reflect"), ("f:3,8",)),
        E("F.pad(circular)", lambda x: F.pad(x, (1, 2), mode="circular"), ("f:3,8",)),
        E("F.one_hot", lambda i: F.one_hot(i, 5), ("i5:4",)),
        E("F.embedding_bag", lambda i, w: F.embedding_bag(i, w[0].reshape(6, 2)), ("i6:4", "f:12")),
        E("F.cross_entropy", lambda x, t: F.cross_entropy(x, t[:, 0]), ("f:5", "i5:1")),
        E("F.cross_entropy(label_smoothing)", lambda x, t: F.cross_entropy(x, t[:, 0], label_smoothing=0.1), ("f:5", "i5:1")),
        E("F.nll_loss", lambda x, t: F.nll_loss(x.log_softmax(-1), t[:, 0]), ("f:5", "i5:1")),
        E("F.smooth_l1_loss", F.smooth_l1_loss, ("f:4", "f:4")), E("F.huber_loss", F.huber_loss, ("f:4", "f:4")),
        E("F.kl_div", lambda x, y: F.kl_div(x.log_softmax(-1), y.softmax(-1), reduction="batchmean"), ("f:4", "f:4")),
        E("F.binary_cross_entropy", lambda x, y: F.binary_cross_entropy(x, y), ("u:4", "u:4")),
        E("F.binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, ("f:4", "u:4")),
        E("F.cosine_similarity", F.cosine_similarity, ("f:4", "f:4")),
        E("F.pairwise_distance", F.pairwise_distance, ("f:4", "f:4")),
        E("F.pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), ("f:4,3,3",)),
        E("F.pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2), ("f:1,4,4",)),
        E("F.unfold", lambda x: F.unfold(x, 2), img), E("F.fold", lambda x: F.fold(x, (3, 3), 2), ("f:4,4",)),
        E("F.scaled_dot_product_attention", F.scaled_dot_product_attention, ("f:2,5,4", "f:2,5,4", "f:2,5,4")),
        E("F.scaled_dot_product_attention(causal)", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
          ("f:2,5,4", "f:2,5,4", "f:2,5,4")),
        E("F.poisson_nll_loss", F.poisson_nll_loss, ("f:4", "p:4")),
        E("F.gaussian_nll_loss", F.gaussian_nll_loss, ("f:4", "f:4", "p:4")),
        E("F.multi_margin_loss", lambda x, t: F.multi_margin_loss(x, t[:, 0]), ("f:5", "i5:1")),
        E("F.triplet_margin_loss", F.triplet_margin_loss, ("f:4", "f:4", "f:4")),
        E("F.ctc_loss", lambda lp, t: F.ctc_loss(lp.log_softmax(-1).transpose(0, 1), t + 1,
                                                 torch.full((lp.shape[0],), 5), torch.full((lp.shape[0],), 2)),
          ("f:5,4", "i3:2")),
        # -- Tensor methods with keyword variants
        E("Tensor.sum(keepdim=True)", lambda x: x.sum(1, keepdim=True), f4),
        E("Tensor.max(dim, keepdim=True)", lambda x: x.max(dim=1, keepdim=True), f4),
        E("Tensor.std(unbiased=False)", lambda x: x.std(1, unbiased=False), f4),
        E("Tensor.norm(p=1)", lambda x: x.norm(p=1, dim=1), f4),
        E("Tensor.addcmul", lambda x, y: x.addcmul(x, y, value=0.5), ("f:4", "f:4")),
        E("Tensor.addcdiv", lambda x, y: x.addcdiv(x, y, value=0.5), ("f:4", "p:4")),
        E("Tensor.unfold", lambda x: x.unfold(1, 3, 2), ("f:7",)),
        E("Tensor.type_as", lambda x, i: i.type_as(x) + x, ("f:4", "i5:4")),
        E("Tensor.expand_as", lambda x, y: x[:, :1].expand_as(y), ("f:4", "f:4")),
        E("Tensor.clamp_min_", lambda x: x.clone().clamp_min_(0.1), f4),
        E("Tensor.cumsum(dtype)", lambda x: x.cumsum(1, dtype=torch.float64), f4),
        E("Tensor.log_softmax(dtype)", lambda x: x.log_softmax(1, dtype=torch.float64), f4),
        E("Tensor.nan_to_num_(posinf)", lambda x: (1 / x.round()).nan_to_num(posinf=9.0, neginf=-9.0), f4),
        E("Tensor.bincount", lambda i: i.flatten().bincount(minlength=5), ("i5:4",)),
    ]
    names = [e.name for e in entries]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate survey entries: {sorted(dup)}")
    return entries


# -- one entry ------------------------------------------------------------------------------------

def _module(fn: Callable, arity: int) -> torch.nn.Module:
    params = ", ".join(f"x{i}" for i in range(arity))
    namespace: dict[str, Any] = {}
    exec(f"def forward(self, {params}):\n    return self.fn({params})\n", namespace)  # noqa: S102 - fixed text
    cls = type("Surveyed", (torch.nn.Module,), {"forward": namespace["forward"]})
    module = cls()
    module.fn = fn
    return module.eval()


def _flat(out: Any) -> list[torch.Tensor]:
    return [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for marker in ("No ONNX function found", "Unsupported", "not supported", "Could not", "Cannot"):
        at = text.find(marker)
        if at >= 0:
            return text[at:].splitlines()[0][:160]
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def _export_failure_reason(exc: BaseException) -> str:
    chain = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for e in chain:
        if "No ONNX function found" in str(e) or "not supported" in str(e).lower():
            return _short(e)
    return _short(chain[-1])


def lowered_ops(entry: Entry) -> list[str] | None:
    """The ops of ``entry``'s traced program that opforge translates itself (None: tracing failed).

    Both the traced program and its default decomposition are searched. When there are none,
    ``opforge.export`` hands torch.onnx the same program with no table entry that applies, so the survey reuses the stock result for the opforge column (marked "same graph").
    """
    from opforge.exporters import dynamo

    table = dynamo.translation_table()
    model = _module(entry.fn, len(entry.inputs))
    batch = torch.export.Dim("batch", min=2, max=1024)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.export.export(model, entry.args(EXPORT_BATCH, 0),
                                          dynamic_shapes=tuple({0: batch} for _ in entry.inputs))
    except Exception:  # noqa: BLE001 - the exporters will report it
        return None
    targets = {n.target for n in program.graph.nodes if n.op == "call_function"}
    try:  # ops that torch.onnx's decomposition turns into one opforge translates (linalg_inv -> linalg_inv_ex)
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            decomposed = program.run_decompositions()
        targets |= {n.target for n in decomposed.graph.nodes if n.op == "call_function"}
    except Exception:  # noqa: BLE001 - then run opforge.export itself
        return None
    return sorted(str(t) for t in targets if t in table)


def run_entry(entry: Entry, exporter: str) -> dict[str, str]:
    """Export ``entry`` with ``exporter`` ("stock" or "opforge") and compare with eager."""
    import onnxruntime

    import opforge

    arity = len(entry.inputs)
    model = _module(entry.fn, arity)
    batch = torch.export.Dim("batch", min=2, max=1024)
    dynamic = tuple({0: batch} for _ in range(arity))
    args = entry.args(EXPORT_BATCH, 0)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            if exporter == "stock":
                program = torch.onnx.export(model, args, dynamic_shapes=dynamic, dynamo=True, verbose=False)
                proto = program.model_proto
            else:
                proto = opforge.export(model, args, dynamic_shapes=dynamic, verify=False, verbose=False)
    except Exception as exc:  # noqa: BLE001 - the survey records every failure
        return {"status": "export", "detail": _export_failure_reason(exc)}
    contrib = sorted({f"{n.op_type}" for n in proto.graph.node if n.domain == "opforge.contrib"})
    try:
        if exporter == "stock":
            session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        else:
            session = opforge.InferenceSession(proto)
        names = [i.name for i in session.get_inputs()]
    except Exception as exc:  # noqa: BLE001
        return {"status": "runtime", "detail": _short(exc), "contrib": ",".join(contrib)}
    for n in RUN_BATCHES:
        inputs = entry.args(n, n)
        with torch.no_grad():
            expected = _flat(model(*inputs))
        try:
            got = session.run(None, {name: t.numpy() for name, t in zip(names, inputs, strict=True)})
        except Exception as exc:  # noqa: BLE001
            return {"status": "runtime", "detail": f"batch {n}: {_short(exc)}", "contrib": ",".join(contrib)}
        try:
            if len(got) != len(expected):
                raise AssertionError(f"{len(got)} outputs, eager has {len(expected)}")
            for index, (e, g) in enumerate(zip(expected, got, strict=True)):
                opforge.assert_close(e.numpy(), np.asarray(g), f"output {index}")
        except AssertionError as exc:
            return {"status": "wrong", "detail": f"batch {n}: {str(exc).splitlines()[0][:160]}",
                    "contrib": ",".join(contrib)}
    return {"status": "ok", "detail": "", "contrib": ",".join(contrib)}


# -- the report -----------------------------------------------------------------------------------

_LABEL = {"ok": "✅ matches", "export": "❌ export fails", "runtime": "⛔ runtime fails", "wrong": "⚠️ silently wrong"}


def write_report(entries: list[Entry], results: dict[str, dict[str, dict[str, str]]], out: Path) -> None:
    counts = {ex: {k: 0 for k in _LABEL} for ex in ("stock", "opforge")}
    for entry in entries:
        for ex in ("stock", "opforge"):
            counts[ex][results[entry.name][ex]["status"]] += 1
    fixed = [e.name for e in entries if results[e.name]["stock"]["status"] != "ok"
             and results[e.name]["opforge"]["status"] == "ok"]
    lines = [
        "# Export coverage: stock torch.onnx vs opforge.export",
        "",
        "<!-- generated by tools/survey_export.py; do not edit by hand -->",
        "",
        f"torch {torch.__version__}, onnx {_version('onnx')}, onnxruntime {_version('onnxruntime')}, "
        f"onnxscript {_version('onnxscript')}. Each call is exported with the dynamo exporter at batch "
        f"{EXPORT_BATCH} with a dynamic batch dim, run in ONNX Runtime at batches "
        f"{' and '.join(map(str, RUN_BATCHES))} and compared with eager PyTorch at ONNX Runtime's tolerances "
        "(float32: rtol 1e-4, atol 1e-5). *Stock* is `torch.onnx.export(..., dynamo=True)` run in "
        "`onnxruntime.InferenceSession`; *opforge* is `opforge.export` (with the contrib ops of "
        "`opforge.ops`) run in `opforge.InferenceSession`. Where the traced program holds no op that opforge "
        "translates, opforge.export hands torch.onnx the same program and the opforge column repeats the "
        "stock result, marked *(same graph)*; `--full` runs opforge.export on those too.",
        "",
        f"{len(entries)} calls surveyed.",
        "",
        "| result | stock torch.onnx | opforge.export |",
        "|---|---|---|",
    ]
    for key, label in _LABEL.items():
        lines.append(f"| {label} | {counts['stock'][key]} | {counts['opforge'][key]} |")
    lines += ["", f"opforge fixes {len(fixed)} call(s) that stock export fails or gets wrong.", "",
              "| call | stock torch.onnx | opforge.export | contrib op | stock detail |", "|---|---|---|---|---|"]
    for entry in entries:
        r = results[entry.name]
        detail = r["stock"]["detail"].replace("|", "\\|").replace("\n", " ")
        if r["opforge"]["status"] != "ok" and r["opforge"]["detail"]:
            detail += (" / opforge: " + r["opforge"]["detail"].replace("|", "\\|").replace("\n", " "))
        same = " (same graph)" if r["opforge"].get("same") else ""
        lines.append(f"| `{entry.name}` | {_LABEL[r['stock']['status']]} | {_LABEL[r['opforge']['status']]}{same} | "
                     f"{r['opforge'].get('contrib', '')} | {detail} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="survey only entries whose name contains this")
    parser.add_argument("--fresh", action="store_true", help="ignore the cache and start over")
    parser.add_argument("--out", default=str(ROOT / "docs" / "survey.md"))
    parser.add_argument("--cache", default=str(CACHE))
    parser.add_argument("--redo-opforge", action="store_true",
                        help="recompute the opforge column of entries that stock export does not get right "
                             "(after adding contrib ops)")
    parser.add_argument("--full", action="store_true",
                        help="run opforge.export on every entry, also those whose traced program holds no op "
                             "that opforge translates (their opforge result is otherwise the stock one)")
    ns = parser.parse_args(argv)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    import opforge.ops  # noqa: F401 - declares the contrib ops and their aten lowerings

    logging.disable(logging.WARNING)
    os.environ.setdefault("TORCH_LOGS", "")
    cache_path = Path(ns.cache)
    cache: dict[str, Any] = {}
    if cache_path.exists() and not ns.fresh:
        cache = json.loads(cache_path.read_text())
    key = f"torch {torch.__version__}"
    if cache.get("_key") != key:
        cache = {"_key": key}
    entries = catalogue()
    todo = [e for e in entries if (ns.only is None or ns.only in e.name)]
    if ns.redo_opforge:
        for e in todo:
            if cache.get(e.name, {}).get("stock", {}).get("status", "ok") != "ok":
                cache[e.name].pop("opforge", None)
    start = time.time()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[current]}")) as progress:
        task = progress.add_task("survey", total=len(todo), current="")
        for entry in todo:
            progress.update(task, current=entry.name)
            for exporter in ("stock", "opforge"):
                if exporter in cache.get(entry.name, {}):
                    continue
                try:
                    if exporter == "opforge" and not ns.full and lowered_ops(entry) == []:
                        result = dict(cache[entry.name]["stock"], same=True)
                    else:
                        result = run_entry(entry, exporter)
                except Exception:  # noqa: BLE001 - a survey bug must not stop the survey
                    result = {"status": "export", "detail": "survey error: " + traceback.format_exc(limit=1)[-160:]}
                cache.setdefault(entry.name, {})[exporter] = result
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                cache_path.write_text(json.dumps(cache, indent=1))
            progress.advance(task)
    done = [e for e in entries if e.name in cache and len(cache[e.name]) == 2]
    write_report(done, cache, Path(ns.out))
    print(f"surveyed {len(todo)} call(s) in {time.time() - start:.0f} s; wrote {ns.out} ({len(done)} calls)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
