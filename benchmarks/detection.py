"""Graph breaks on a detection model: stock torch.onnx.export vs opforge.export, then ONNX Runtime vs eager.

The model is benchmarks/detection_model.py's TinyRetinaNet (torchvision's RetinaNet pipeline rebuilt
in-repo: torchvision's wheel does not import beside torch 2.13 here), random init, one 3x320x320 image.
One run measures:

* whether stock ``torch.onnx.export(..., dynamo=True)`` exports it (it stops at a data-dependent guard);
* ``opforge.export`` (verify on): wall time, the number of graph breaks and the functions outlined;
* eager PyTorch vs ``opforge.InferenceSession``: median latency of ``--repeat`` interleaved runs per
  image, and whether the detections match as sets (same label, score within 1e-5 abs / 1e-4 rel, box
  within 1e-3 abs / 1e-4 rel; the order of detections whose scores tie is free).

The images are uniform noise at five intensities: the untrained model keeps 50 to 300 detections
and batched_nms takes both of torchvision's branches (coordinate trick below 1000 boxes, per-class
loop above).

    python benchmarks/detection.py [--repeat 10] [--threads 1] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch

import opforge
from opforge.exporters import summary

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import detection_model  # noqa: E402

SCALES = (0.2, 0.6, 1.0, 1.5, 2.5)


def image(index: int, scale: float) -> torch.Tensor:
    return torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(index)) * scale


def nms_boxes(model: detection_model.TinyRetinaNet, x: torch.Tensor) -> int:
    """How many boxes reach batched_nms (which branches on 4 x that > 4000)."""
    with torch.no_grad():
        features = model.backbone((x - model.mean) / model.std)
        scores = torch.sigmoid(model.cls_head(features))[0]
    per_level = [f.shape[-2] * f.shape[-1] * 9 for f in features]
    return sum(min(model.topk_candidates, int((s > model.score_thresh).sum())) for s in scores.split(per_level))


def match_as_sets(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> tuple[int, int]:
    """(matched, total): each eager detection paired with one ONNX Runtime detection of the same label,
    score and box (tolerances above); ties in score may come in any order."""
    used = np.zeros(len(got["scores"]), dtype=bool)
    matched = 0
    for box, score, label in zip(expected["boxes"], expected["scores"], expected["labels"]):
        close = ((got["labels"] == label) & ~used
                 & np.isclose(got["scores"], score, rtol=1e-4, atol=1e-5)
                 & np.isclose(got["boxes"], box, rtol=1e-4, atol=1e-3).all(axis=1))
        hits = np.flatnonzero(close)
        if hits.size:
            used[hits[0]] = True
            matched += 1
    total = max(len(expected["scores"]), len(got["scores"]))
    return matched, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--skip-stock", action="store_true", help="do not try stock torch.onnx.export")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = detection_model.TinyRetinaNet().eval()
    example = (image(2, 1.0),)
    report: dict[str, object] = {}

    if not args.skip_stock:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, example, dynamo=True, verbose=False)
            report["stock torch.onnx.export"] = "exported"
        except Exception as exc:  # noqa: BLE001 - what stock export says is the measurement
            cause = exc.__cause__ or exc
            report["stock torch.onnx.export"] = f"fails ({type(cause).__name__}) after {time.perf_counter() - start:.1f} s"

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(model, example)
    export_s = time.perf_counter() - start
    notes = json.loads({p.key: p.value for p in proto.metadata_props}.get(summary.METADATA_KEY, "[]"))
    breaks = [n["name"] for n in notes if n["kind"] == "graph break"]
    report["opforge.export (verify on)"] = f"{export_s:.1f} s"
    report["graph breaks"] = f"{len(breaks)}: {', '.join(breaks)}"
    standard = sum(1 for n in proto.graph.node if n.domain in ("", "ai.onnx"))
    report["ONNX nodes"] = f"{len(proto.graph.node)} ({standard} standard, {len(proto.graph.node) - standard} outlined)"

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = opforge.InferenceSession(proto, options)
    name = proto.graph.input[0].name
    rows = []
    for index, scale in enumerate(SCALES):
        x = image(index, scale)
        with torch.no_grad():
            eager = model(x)[0]
        expected = {k: v.numpy() for k, v in eager.items()}
        feed = {name: x.numpy()}
        boxes, scores, labels = session.run(None, feed)
        matched, total = match_as_sets(expected, {"boxes": boxes, "scores": scores, "labels": labels})

        def run_eager(x: torch.Tensor = x) -> None:
            with torch.no_grad():
                model(x)

        def run_ort(feed: dict = feed) -> None:
            session.run(None, feed)

        times: dict[str, list[float]] = {"eager": [], "ort": []}
        for _ in range(args.repeat):
            for key, fn in (("eager", run_eager), ("ort", run_ort)):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
        eager_ms = statistics.median(times["eager"]) * 1e3
        ort_ms = statistics.median(times["ort"]) * 1e3
        branch = "per-class loop" if nms_boxes(model, x) * 4 > 4000 else "coordinate trick"
        rows.append((scale, len(expected["scores"]), branch, eager_ms, ort_ms, matched, total))

    if args.markdown:
        for key, value in report.items():
            print(f"- {key}: {value}")
        print("\n| image intensity | detections | batched_nms branch | eager torch | opforge.InferenceSession | "
              "ratio | detections matched |")
        print("|---|---|---|---|---|---|---|")
        for scale, n, branch, e, o, m, t in rows:
            print(f"| {scale} | {n} | {branch} | {e:.1f} ms | {o:.1f} ms | x{o / e:.2f} | {m}/{t} |")
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
        for scale, n, branch, e, o, m, t in rows:
            print(f"intensity {scale}: {n} detections ({branch}); eager {e:.1f} ms, ORT {o:.1f} ms (x{o / e:.2f}); "
                  f"matched {m}/{t}")
    return 0 if all(m == t for *_, m, t in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
