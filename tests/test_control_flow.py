"""Loops and conditionals: opaque control-flow ops, portable ONNX function bodies, caught specialisation.

Every layer of tests/control_flow_ops.py is exported once (dynamic dims), then run against eager
PyTorch on inputs that take different branches, iteration counts or output lengths: through
``opforge.InferenceSession`` (Python kernel or torch reference) and, as a portable file, through a
plain ``onnxruntime.InferenceSession``.
"""

from __future__ import annotations

import pathlib
import re
import sys
import types

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import opforge
from opforge.portable import PortableError, make_portable

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import control_flow_ops as cf  # noqa: E402

Dim = torch.export.Dim
DOCS = pathlib.Path(__file__).parent.parent / "docs" / "control-flow.md"


class Layer(torch.nn.Module):
    """A model around one op, so the op is exported as a layer among standard ops."""

    def __init__(self, op: opforge.OpDef, **attrs: object) -> None:
        super().__init__()
        self.op, self.attrs = op, attrs

    def forward(self, x: torch.Tensor):
        return self.op(x * 1.0, **self.attrs)


def newton_steps(x: np.ndarray, tol: float = 1e-6, max_iter: int = 60) -> int:
    y = np.ones_like(x)
    for step in range(1, max_iter + 1):
        nxt = np.float32(0.5) * (y + x / y)
        done = bool((np.abs(nxt - y) <= np.float32(tol) * np.abs(nxt)).all())
        y = nxt
        if done:
            return step
    return max_iter


def f32(*values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


rng = np.random.default_rng(7)
# name -> (op, attributes, dynamic_shapes, inputs that behave differently)
CASES = {
    "convergence_while_loop": (
        cf.newton_sqrt, {}, ({0: Dim("n"), 1: Dim("m")},),
        [np.full((2, 3), 1.0, np.float32),                                    # converges at once
         (rng.random((3, 4)) * 10 + 0.5).astype(np.float32),                   # a few steps
         (rng.random((4, 2)) * 1e6 + 1e5).astype(np.float32)],                 # many steps
    ),
    "recurrence_dynamic_time": (
        cf.leaky_recurrence, {"decay": 0.8}, ({0: Dim("T"), 1: Dim("B")},),
        [rng.standard_normal((5, 2, 3)).astype(np.float32),
         rng.standard_normal((1, 4, 3)).astype(np.float32),
         rng.standard_normal((17, 3, 3)).astype(np.float32)],
    ),
    "branch_shapes_differ": (
        cf.branch_pool, {}, ({0: Dim("N")},),
        [(rng.random((4, 3)) + 1).astype(np.float32),                          # mean > margin: (N, D)
         (-rng.random((5, 3)) - 1).astype(np.float32),                         # mean < -margin: (1, D)
         (rng.random((3, 3)) * 0.2 - 0.1).astype(np.float32)],                 # otherwise: (2N, D)
    ),
    "data_dependent_length": (
        cf.halvings, {"limit": 1.0}, ({0: Dim("N")},),
        [f32(0.5, -0.25, 0.1),                                                 # K = 1
         f32(3.0, -7.5, 1.0, 0.0),                                              # K = 4
         (rng.standard_normal(6) * 1000).astype(np.float32)],                   # K ~ 11
    ),
    "loop_with_branch": (
        cf.gated_accumulate, {"decay": 0.5}, ({0: Dim("T")},),
        [np.abs(rng.standard_normal((4, 3))).astype(np.float32),               # always adds
         -np.abs(rng.standard_normal((3, 3))).astype(np.float32),              # always decays
         rng.standard_normal((9, 3)).astype(np.float32)],                      # both
    ),
    "two_outputs_two_dtypes": (
        cf.first_above, {"threshold": 1.5}, ({0: Dim("N"), 1: Dim("D")},),
        [np.full((2, 5), 1.0, np.float32),                                     # stops at column 1
         np.full((3, 4), -1.0, np.float32),                                    # never: index D
         rng.standard_normal((6, 7)).astype(np.float32)],                      # mixed
    ),
}


def eager(op: opforge.OpDef, attrs: dict, x: np.ndarray) -> list[np.ndarray]:
    out = op(torch.from_numpy(x.copy()), **attrs)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def check(outputs: list[np.ndarray], op: opforge.OpDef, attrs: dict, x: np.ndarray, what: str) -> None:
    expected = eager(op, attrs, x)
    assert len(outputs) == len(expected)
    for e, g in zip(expected, outputs):
        assert g.dtype == e.dtype, f"{what}: dtype {g.dtype} != {e.dtype}"
        opforge.assert_close(e, g, what)


@pytest.fixture(scope="module")
def exported() -> dict[str, onnx.ModelProto]:
    """Each layer exported once (verify=True compares ONNX Runtime with eager on the first input)."""
    protos = {}
    for name, (op, attrs, dynamic, inputs) in CASES.items():
        protos[name] = opforge.export(Layer(op, **attrs), (torch.from_numpy(inputs[0]),), dynamic_shapes=dynamic)
    return protos


def test_inputs_take_different_paths() -> None:
    """The test inputs really exercise different iteration counts, branches and output lengths."""
    newton = CASES["convergence_while_loop"][3]
    assert len({newton_steps(x) for x in newton}) == 3
    shapes = {eager(cf.branch_pool, {}, x)[0].shape for x in CASES["branch_shapes_differ"][3]}
    assert shapes == {(4, 3), (1, 3), (6, 3)}
    lengths = {eager(cf.halvings, {"limit": 1.0}, x)[0].shape[0] for x in CASES["data_dependent_length"][3]}
    assert len(lengths) == 3 and 1 in lengths
    indices = [eager(cf.first_above, {"threshold": 1.5}, x)[1] for x in CASES["two_outputs_two_dtypes"][3]]
    assert (indices[0] == 1).all() and (indices[1] == 4).all()


@pytest.mark.parametrize("name", list(CASES))
def test_opforge_session_matches_eager(exported: dict[str, onnx.ModelProto], name: str) -> None:
    op, attrs, _, inputs = CASES[name]
    proto = exported[name]
    nodes = [n for n in proto.graph.node if n.domain == cf.DOMAIN]
    assert [n.op_type for n in nodes] == [op.op_type], "the layer must export as one opaque node"
    session = opforge.InferenceSession(proto)
    for index, x in enumerate(inputs):
        check(session.run(None, {"x": x}), op, attrs, x, f"{name} input {index} (opforge.InferenceSession)")


@pytest.mark.parametrize("name", list(CASES))
def test_portable_runs_on_plain_onnxruntime(exported: dict[str, onnx.ModelProto], name: str) -> None:
    op, attrs, _, inputs = CASES[name]
    portable = make_portable(exported[name])
    function = {(f.domain, f.name): f for f in portable.functions}[(op.domain, op.op_type)]
    assert any(n.op_type in ("Loop", "If") for n in function.node) or name == "two_outputs_two_dtypes"
    session = ort.InferenceSession(portable.SerializeToString(), providers=["CPUExecutionProvider"])
    for index, x in enumerate(inputs):
        check(session.run(None, {"x": x}), op, attrs, x, f"{name} input {index} (plain onnxruntime)")


def test_export_portable_inline_file(tmp_path: pathlib.Path) -> None:
    """export(portable=True, inline=True) writes a file with no custom domain left in it."""
    path = tmp_path / "recurrence.onnx"
    x = np.random.default_rng(0).standard_normal((6, 2, 4)).astype(np.float32)
    opforge.export(Layer(cf.leaky_recurrence), (torch.from_numpy(x),), path, portable=True, inline=True,
                   dynamic_shapes=({0: Dim("T"), 1: Dim("B")},))
    model = onnx.load(path)
    assert not model.functions
    assert {o.domain for o in model.opset_import} <= {"", "ai.onnx"}
    assert {n.domain for n in model.graph.node} <= {""}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for t in (1, 6, 11):
        y = np.random.default_rng(t).standard_normal((t, 3, 4)).astype(np.float32)
        check(session.run(None, {"x": y}), cf.leaky_recurrence, {}, y, f"inlined recurrence T={t}")


def test_non_portable_export_carries_the_functions(exported: dict[str, onnx.ModelProto]) -> None:
    proto = exported["recurrence_dynamic_time"]
    assert (cf.DOMAIN, "LeakyRecurrence") in {(f.domain, f.name) for f in proto.functions}
    x = np.random.default_rng(3).standard_normal((4, 2, 3)).astype(np.float32)
    via_function = opforge.InferenceSession(proto, prefer_functions=True)
    assert not via_function.native_ops, "prefer_functions must run the body, not the Python kernel"
    check(via_function.run(None, {"x": x}), cf.leaky_recurrence, {"decay": 0.8}, x, "recurrence via function")


def test_dynamic_dims_stay_dynamic_with_data_dependent_outputs(exported: dict[str, onnx.ModelProto]) -> None:
    proto = exported["data_dependent_length"]
    (out,) = proto.graph.output
    dims = out.type.tensor_type.shape.dim
    assert len(dims) == 2 and not dims[0].HasField("dim_value"), "the length K depends on the data"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    recurrence = exported["recurrence_dynamic_time"].graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in recurrence[:2]] == ["T", "B"]


def test_portable_names_ops_without_body(exported: dict[str, onnx.ModelProto]) -> None:
    class Two(torch.nn.Module):
        def forward(self, x):
            return cf.no_body(cf.leaky_recurrence(x))

    x = torch.randn(4, 3)
    with pytest.raises(PortableError, match=r"opforge\.test\.cf::NoBody.*@no_body\.onnx_function") as info:
        opforge.export(Two(), (x,), portable=True)
    assert "LeakyRecurrence" not in str(info.value)
    proto = opforge.export(Two(), (x,), verify=False)  # not portable: the Python kernel runs it
    got = opforge.InferenceSession(proto).run(None, {"x": x.numpy()})[0]
    opforge.assert_close(Two()(x).numpy(), got, "NoBody via kernel")


class LoopOverTime(torch.nn.Module):
    """The recurrence written inline: torch export unrolls the loop for the example's T."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros_like(x[0])
        steps = []
        for t in range(x.shape[0]):
            h = torch.tanh(0.5 * h + x[t])
            steps.append(h)
        return torch.stack(steps)


@pytest.mark.parametrize("dim", [Dim("T"), Dim.AUTO], ids=["named", "auto"])
def test_specialised_dim_is_an_error(dim: object) -> None:
    with pytest.raises(opforge.DynamicDimError) as info:
        opforge.export(LoopOverTime(), (torch.randn(5, 3),), dynamic_shapes=({0: dim},), verify=False)
    message = str(info.value)
    assert "input 'x' dim 0" in message and "fixed it to 5" in message
    assert "@opforge.op" in message and "torch.scan" in message
    if isinstance(dim, torch.export.Dim):
        assert "('T')" in message


class VarArgs(torch.nn.Module):
    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return args[0] * 2 + args[1]


@pytest.mark.parametrize("spec", ["tuple", "dict"])
def test_dynamic_dims_of_var_positional_arguments(spec: str) -> None:
    """``forward(*args)``: torch.export reads one group of specs for the ``*args`` parameter; so does the check
    that every requested dim stayed dynamic (it used to misread the group and raise after a good export)."""
    batch = Dim("batch")
    group = ({0: batch}, {0: batch})
    shapes = (group,) if spec == "tuple" else {"args": group}
    proto = opforge.export(VarArgs(), (torch.randn(3, 4), torch.randn(3, 4)), dynamic_shapes=shapes)
    assert [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input] == \
        [["batch", 4], ["batch", 4]]


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_guide_examples_run(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/control-flow.md runs, in order, in one namespace."""
    blocks = _python_blocks(DOCS.read_text())
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("control_flow_guide")  # onnxscript looks the defining module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    try:
        for index, block in enumerate(blocks):
            source = tmp_path / f"control_flow_guide_block{index}.py"  # onnxscript reads the source back
            source.write_text(block)
            exec(compile(block, str(source), "exec"), namespace)
    finally:
        opforge.opdef.unregister("guide.")
    assert namespace.get("GUIDE_CHECKS", 0) >= 3, "the guide's examples must assert their results"


def test_body_calling_another_script_function() -> None:
    """A body that calls another onnxscript function carries that function along (hand-built model)."""
    import onnxscript
    from onnx import TensorProto, helper
    from onnxscript import opset18 as op

    @onnxscript.script(default_opset=op)
    def softplus_step(x, beta: float = 1.0):
        return op.Div(op.Log(op.Add(op.Exp(op.Mul(x, op.CastLike(beta, x))), op.CastLike(1.0, x))),
                      op.CastLike(beta, x))

    @opforge.op("opforge.test.cfnest::Smooth")
    def smooth(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
        return torch.nn.functional.softplus(x, beta=beta)

    @smooth.onnx_function
    def _(x, beta: float = 2.0):
        return softplus_step(x, beta=beta)

    try:
        graph = helper.make_graph([helper.make_node("Smooth", ["x"], ["y"], domain="opforge.test.cfnest", beta=3.0)],
                                  "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20),
                                                        helper.make_opsetid("opforge.test.cfnest", 1)])
        portable = make_portable(model)
        assert {f.name for f in portable.functions} == {"Smooth", "softplus_step"}
        x = np.linspace(-3, 3, 7, dtype=np.float32)
        got = ort.InferenceSession(portable.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
        opforge.assert_close(smooth(torch.from_numpy(x), beta=3.0).numpy(), got[0], "nested body")
    finally:
        opforge.opdef.unregister("opforge.test.cfnest")
