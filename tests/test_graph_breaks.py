"""Graph breaks: a data-dependent branch in a helper no longer stops opforge.export (exporters/graph_breaks.py).

Each model of tests/graph_break_models.py exports through opforge.export (verify on), then runs in
opforge.InferenceSession on inputs that take other branches and give other output sizes, matching eager.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import opforge
from opforge import _outlined
from opforge.exporters import graph_breaks, summary
from opforge.portable import PortableError

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import graph_break_models as models  # noqa: E402

Dim = torch.export.Dim


def _export(model, args, dynamic_shapes, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proto = opforge.export(model, args, dynamic_shapes=dynamic_shapes, **kw)
    notes = [str(w.message) for w in caught if isinstance(w.message, opforge.ExportSummaryWarning)]
    assert len(notes) == 1, "an export that outlined something must say so"
    return proto, notes[0]


def _outlined_nodes(proto):
    return [n for n in proto.graph.node if n.domain == _outlined.DOMAIN]


def _check_runs(model, proto, feeds_list):
    """ONNX Runtime matches eager on every feed; returns the output shapes seen."""
    session = opforge.InferenceSession(proto)
    names = [i.name for i in proto.graph.input]
    shapes = set()
    for feeds in feeds_list:
        feeds = (feeds,) if isinstance(feeds, np.ndarray) else feeds
        got = session.run(None, dict(zip(names, feeds)))
        with torch.no_grad():
            expected = model(*[torch.from_numpy(f) for f in feeds])
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert len(expected) == len(got)
        for e, g in zip(expected, got):
            opforge.assert_close(e.numpy(), g, type(model).__name__)
        shapes.add(tuple(g.shape for g in got))
    return shapes


F = np.float32


def test_numel_branch_both_ways_and_reported() -> None:
    model = models.NumelBranch()
    original = models.keep_first.__code__
    proto, note = _export(model, (torch.tensor([1., -1, 2, 3, 4, 5]),), ({0: Dim("n")},))
    assert models.keep_first.__code__ is original, "the swap is undone after export"
    (node,) = _outlined_nodes(proto)
    assert node.op_type.startswith("keep_first_")
    # the summary names the function, where it is, why, and gives a paste-ready declaration
    assert "graph break: graph_break_models.keep_first" in note
    assert "graph_break_models.py:13" in note and "`if x.numel() > limit:`" in note
    assert '@opforge.op("mylab::KeepFirst"' in note and "def keep_first(x: torch.Tensor, limit: int = 4)" in note
    entries = json.loads({p.key: p.value for p in proto.metadata_props}[summary.METADATA_KEY])
    assert [e["name"] for e in entries if e["kind"] == "graph break"] == ["graph_break_models.keep_first"]
    # few positives take the `x - 1` branch, many the `x[:4] * 2` one; output sizes 0..4
    shapes = _check_runs(model, proto, [np.array([-1, -2], F), np.array([1, -1, 2], F),
                                        np.arange(-3, 9, dtype=F), np.array([5], F)])
    assert len(shapes) >= 3


def test_len_of_data_dependent_tensor() -> None:
    model = models.LenOfKept()
    proto, note = _export(model, (torch.tensor([1., -1, 2, 3, 4, 5]),), ({0: Dim("n")},))
    assert "graph_break_models.pad_to_even" in note and "`if len(kept) % 2:`" in note
    shapes = _check_runs(model, proto, [np.array([1, 2, -3], F), np.array([1, 2, 3], F), np.arange(-4, 7, dtype=F)])
    assert shapes == {((2,),), ((4,),), ((6,),)}


def test_loop_over_data_dependent_count() -> None:
    model = models.LoopOverCount()
    proto, note = _export(model, (torch.tensor([1., -1, 2, 3]),), ({0: Dim("n")},))
    assert "graph_break_models.halve_times" in note and "range(int(count.item()))" in note
    _check_runs(model, proto, [np.array([-1, -2], F), np.array([4, 4, 4, -4, 4], F), np.arange(-2, 9, dtype=F)])


def test_helper_taking_and_returning_lists() -> None:
    model = models.ListsHelper()
    proto, note = _export(model, (torch.randn(2, 6, generator=torch.Generator().manual_seed(0)),), ({1: Dim("n")},))
    (node,) = _outlined_nodes(proto)
    assert len(node.input) == 2 and len(node.output) == 2  # one tensor per list member, in and out
    assert "graph_break_models.filter_each" in note and "Sequence[torch.Tensor]" in note
    rng = np.random.default_rng(3)
    shapes = _check_runs(model, proto, [rng.standard_normal((2, n)).astype(F) for n in (3, 8, 12)]
                         + [np.full((2, 4), -1, F)])  # nothing above the threshold: part[:1] branch
    assert len(shapes) >= 3


def test_method_of_submodule_with_parameters() -> None:
    torch.manual_seed(0)
    model = models.SubmoduleMethod().eval()
    proto, note = _export(model, (torch.randn(6, 4),), ({0: Dim("n")},))
    (node,) = _outlined_nodes(proto)
    assert "graph_break_models.Head.select" in note and "is a method" in note
    # the head's weights are constants of the node (the live module), not ONNX inputs; pre's are initializers
    assert len(node.input) == 1
    rng = np.random.default_rng(4)
    shapes = _check_runs(model, proto, [rng.standard_normal((n, 4)).astype(F) for n in (1, 5, 30)]
                         + [np.zeros((3, 4), F)])
    assert len(shapes) >= 2


def test_same_helper_from_two_call_sites_is_one_op() -> None:
    model = models.TwoCallSites()
    before = [o for o in opforge.list_ops() if o.domain == _outlined.DOMAIN]
    # examples that take the `x[:limit]` branch at both call sites, so no output size equals an input
    # size by chance (the export would tie them: see the module's known limits); random ones made this flaky
    example = (torch.tensor([1.0, 2, 3, 4, 5, -1]), torch.tensor([-1.0, -2, -3, 4, 5]))
    proto, note = _export(model, example, ({0: Dim("n")}, {0: Dim("m")}))
    nodes = _outlined_nodes(proto)
    assert len(nodes) == 2 and len({n.op_type for n in nodes}) == 1
    assert "(2 calls, one node each" in note
    rng = np.random.default_rng(5)
    _check_runs(model, proto, [(rng.standard_normal(n).astype(F), rng.standard_normal(m).astype(F))
                               for n, m in ((2, 9), (12, 3), (7, 7))])
    # exporting again reuses the op instead of declaring another
    proto2, _ = _export(model, example, ({0: Dim("n")}, {0: Dim("m")}))
    after = [o for o in opforge.list_ops() if o.domain == _outlined.DOMAIN]
    assert {n.op_type for n in _outlined_nodes(proto2)} == {nodes[0].op_type}
    assert len(after) <= len(before) + 1


def test_nested_helpers_outline_only_the_inner_one() -> None:
    model = models.NestedHelpers()
    proto, note = _export(model, (torch.randn(6, generator=torch.Generator().manual_seed(1)),), ({0: Dim("n")},))
    (node,) = _outlined_nodes(proto)
    assert node.op_type.startswith("clip_rows_")
    assert "normalise_then_clip" not in note
    assert {"Exp", "Div"} <= {n.op_type for n in proto.graph.node}  # the outer helper is ordinary ONNX
    shapes = _check_runs(model, proto, [np.array([0.5, 1, -1], F), np.linspace(-1, 2, 9, dtype=F),
                                        np.array([1.0], F)])
    assert len(shapes) >= 2


def test_portable_refuses_with_the_list() -> None:
    with pytest.raises(PortableError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opforge.export(models.NumelBranch(), (torch.tensor([1., -1, 2, 3, 4, 5]),), portable=True)
    message = str(info.value)
    assert "graph_break_models.keep_first" in message and "@opforge.op" in message
    assert "onnx_function" in message


def test_graph_breaks_off_gives_opforge_first_error() -> None:
    with pytest.raises(graph_breaks.GraphBreakError) as info:
        opforge.export(models.NumelBranch(), (torch.tensor([1., -1, 2, 3, 4, 5]),), graph_breaks=False)
    message = str(info.value)
    first = message.split("\n")[0]
    assert first.startswith("opforge.export: torch.export cannot trace keep_first (")
    assert "graph_break_models.py:15" in first and "`if x.numel() > limit:`" in first
    assert "graph_breaks=False" in first and "@opforge.op" in first
    assert message.index("@opforge.op(") < message.index("torch.export's error follows")
    assert isinstance(info.value, opforge.ExportError)
    assert graph_breaks.break_in(info.value.__cause__) is not None  # torch's exception is chained


def test_no_outlinable_frame_names_the_forward() -> None:
    with pytest.raises(graph_breaks.GraphBreakError) as info:
        opforge.export(models.BranchInForward(), (torch.tensor([1., -1, 2]),))
    first = str(info.value).split("\n")[0]
    assert "BranchInForward.forward" in first and "`if kept.numel() > 2:`" in first
    assert "the model's own forward" in first


def test_swap_is_undone_when_export_fails_later() -> None:
    original = models.keep_first.__code__
    with pytest.raises(graph_breaks.GraphBreakError) as info:
        opforge.export(models.OutlinedThenForwardBranch(), (torch.tensor([1., -1, 2]),))
    assert "OutlinedThenForwardBranch.forward" in str(info.value).split("\n")[0]
    assert models.keep_first.__code__ is original
    assert models.keep_first(torch.tensor([1.0, 2.0])).tolist() == [0.0, 1.0]


def test_fresh_process_explains_outlined_nodes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "outlined.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opforge.export(models.NumelBranch(), (torch.tensor([1., -1, 2, 3, 4, 5]),), path, verify=False)
    script = ("import sys, opforge\n"
              "try:\n    opforge.InferenceSession(sys.argv[1])\n"
              "except opforge.MissingKernelError as e:\n    print(e)\nelse:\n    print('LOADED')\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300)
    assert "outlined at a graph break" in out.stdout, out.stdout + out.stderr
    assert "'graph_break_models.keep_first'" in out.stdout and "@opforge.op" in out.stdout


def test_metadata_key_shared_with_runtime() -> None:
    assert _outlined.SUMMARY_KEY == summary.METADATA_KEY


def test_helper_with_dicts_of_tensors_and_int64_outputs() -> None:
    model = models.DictHelper()
    proto, note = _export(model, (torch.tensor([1., -1, 2, 3, 0.5, 4]),), ({0: Dim("n")},))
    assert "graph_break_models.top_detections" in note
    shapes = _check_runs(model, proto, [np.array([1, -1], F), np.array([3, 1, 2, 5, -1, 4], F)])
    assert shapes == {((1,), (1,)), ((3,), (3,))}
    # the summary's recipe is paste-ready: it declares an op that computes what the helper computes
    entries = json.loads({p.key: p.value for p in proto.metadata_props}[summary.METADATA_KEY])
    recipe = entries[0]["recipe"].replace('"mylab::', '"opforge.test.recipe::')
    namespace = {"opforge": opforge, "torch": torch, "graph_break_models": models}
    try:
        exec(compile(recipe, "<recipe>", "exec"), namespace)  # our own generated text, not user input
        op = namespace["top_detections"]
        assert isinstance(op, opforge.OpDef) and op.inputs[1].dtypes == ("int64",)
        scores, labels = torch.tensor([0.5, 2.0, 1.0, 3.0]), torch.tensor([0, 1, 2, 3])
        got = op(scores, labels, limit=3)
        want = models.top_detections({"scores": scores, "labels": labels}, 3)
        assert torch.equal(got[0], want["scores"]) and torch.equal(got[1], want["labels"])
        specs = op.infer_fn(opforge.TensorSpec([4], "float32"), opforge.TensorSpec([4], "int64"), limit=3)
        assert [s.dtype for s in specs] == ["float32", "int64"] and specs[0].shape == (None,)
    finally:
        opforge.opdef.unregister("opforge.test.recipe")


def test_detection_model_end_to_end() -> None:
    """A small RetinaNet (benchmarks/detection_model.py): batched_nms is the one break; detections match."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / "benchmarks"))
    import detection
    import detection_model

    torch.manual_seed(0)
    model = detection_model.TinyRetinaNet(num_classes=5, image_size=64).eval()

    def image(seed: int, scale: float) -> torch.Tensor:
        return torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed)) * scale

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = opforge.export(model, (image(1, 1.0),))
    entries = json.loads({p.key: p.value for p in proto.metadata_props}[summary.METADATA_KEY])
    assert [e["name"] for e in entries if e["kind"] == "graph break"] == ["detection_model.batched_nms"]
    session = opforge.InferenceSession(proto)
    counts = set()
    for seed, scale in ((0, 0.2), (3, 5.0)):
        x = image(seed, scale)
        with torch.no_grad():
            expected = {k: v.numpy() for k, v in model(x)[0].items()}
        boxes, scores, labels = session.run(None, {proto.graph.input[0].name: x.numpy()})
        matched, total = detection.match_as_sets(expected, {"boxes": boxes, "scores": scores, "labels": labels})
        assert matched == total == len(expected["scores"])
        counts.add(total)
    assert len(counts) == 2


def test_branch_on_a_tensor_value() -> None:
    model = models.ValueBranch()
    proto, note = _export(model, (torch.ones(3, 4), torch.full((3, 4), 0.5)), ({0: Dim("n")}, {0: Dim("n")}))
    assert "graph_break_models.decode_if_any" in note and "`if box_sum > 0:`" in note
    # the output keeps the input's dynamic rows (the same-size guess), both branches run
    rng = np.random.default_rng(6)
    _check_runs(model, proto, [(np.abs(rng.standard_normal((n, 4))).astype(F) * sign, rng.standard_normal((n, 4)).astype(F))
                               for n, sign in ((2, 1), (7, -1))])


def test_helper_writing_its_argument_is_not_outlined() -> None:
    original = models.clamp_in_place.__code__
    with pytest.raises(graph_breaks.GraphBreakError) as info:
        opforge.export(models.InPlaceHelper(), (torch.tensor([1., -1, 2, 3, 4, 5]),))
    first = str(info.value).split("\n")[0]
    assert "clamp_in_place: it modifies a tensor argument in place" in first
    assert models.clamp_in_place.__code__ is original
