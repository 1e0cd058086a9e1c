"""Declaration: signatures parse into inputs/attributes/outputs; bad ones fail naming the parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
import torch

import opforge
from opforge.opdef import lookup


def test_signature_parses_every_kind():
    @opforge.op("opforge.test.decl::Everything", version=1, dtypes={"index": ["int64"]}, outputs=["y", "idx"])
    def everything(
        x: torch.Tensor,
        index: torch.Tensor,
        bias: torch.Tensor | None,
        rest: Sequence[torch.Tensor],
        alpha: float,
        n: int = 3,
        flag: bool = True,
        mode: str = "mean",
        axes: list[int] = [0, 1],  # noqa: B006 - a declared default, never mutated
        weights: list[float] = [0.5],  # noqa: B006
        names: list[str] = ["a"],  # noqa: B006
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return x, index

    assert [(i.name, i.kind) for i in everything.inputs] == [
        ("x", "tensor"), ("index", "tensor"), ("bias", "optional"), ("rest", "variadic")]
    assert everything.inputs[1].dtypes == ("int64",)
    assert "bfloat16" in everything.inputs[0].dtypes
    kinds = {a.name: (a.kind, a.default, a.required) for a in everything.attributes}
    assert kinds == {
        "alpha": ("float", None, True), "n": ("int", 3, False), "flag": ("bool", True, False),
        "mode": ("str", "mean", False), "axes": ("ints", [0, 1], False), "weights": ("floats", [0.5], False),
        "names": ("strs", ["a"], False)}
    assert [o.name for o in everything.outputs] == ["y", "idx"]
    schema = onnx.defs.get_schema("Everything", 1, "opforge.test.decl")
    assert [i.name for i in schema.inputs] == ["x", "index", "bias", "rest"]
    assert schema.inputs[2].option == onnx.defs.OpSchema.FormalParameterOption.Optional
    assert schema.inputs[3].option == onnx.defs.OpSchema.FormalParameterOption.Variadic
    assert schema.attributes["alpha"].required
    assert onnx.helper.get_attribute_value(schema.attributes["n"].default_value) == 3
    assert everything in opforge.list_ops(__name__)


BAD = {
    "no annotation": ("def f(x) -> torch.Tensor: ...", "parameter 'x' has no type annotation"),
    "unsupported type": ("def f(x: torch.Tensor, d: dict) -> torch.Tensor: ...", "parameter 'd' has unsupported type"),
    "optional attribute": ("def f(x: torch.Tensor, a: float | None = None) -> torch.Tensor: ...",
                           "parameter 'a': only tensors may be optional"),
    "var args": ("def f(*xs: torch.Tensor) -> torch.Tensor: ...", "parameter 'xs': *args/**kwargs"),
    "no return": ("def f(x: torch.Tensor): ...", "no return annotation"),
    "bad return": ("def f(x: torch.Tensor) -> int: ...", "return annotation must be torch.Tensor"),
    "open tuple": ("def f(x: torch.Tensor) -> tuple[torch.Tensor, ...]: ...", "fixed number of tensors"),
    "bad default": ("def f(x: torch.Tensor, n: int = 'a') -> torch.Tensor: ...", "attribute 'n' is declared int"),
    "input default": ("def f(x: torch.Tensor = 1) -> torch.Tensor: ...", "input 'x' may not have a default"),
    "two variadics": ("def f(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> torch.Tensor: ...",
                      "only one variadic input"),
    "reserved name": ("def f(x: torch.Tensor, domain: str = '') -> torch.Tensor: ...", "parameter name 'domain' is reserved"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_signature_names_the_parameter(case):
    source, message = BAD[case]
    namespace = {"torch": torch, "Sequence": Sequence}
    exec(source, namespace)
    with pytest.raises(opforge.DeclarationError) as info:
        opforge.op(f"opforge.test.decl::Bad{case.title().replace(' ', '')}")(namespace["f"])
    assert message in str(info.value)
    assert "opforge.op('opforge.test.decl::Bad" in str(info.value)


@pytest.mark.parametrize("name", ["NoDomain", "a::b::c", "::Op", "mylab::1Op", "ai.onnx::Relu", "aten::foo"])
def test_bad_names(name):
    with pytest.raises(opforge.DeclarationError, match="domain"):
        opforge.op(name)(lambda x: x)


def test_bad_dtypes_and_kernel_signatures():
    def ref(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return x * alpha

    with pytest.raises(opforge.DeclarationError, match="dtypes names 'y'"):
        opforge.op("opforge.test.decl::BadDtypes", dtypes={"y": ["int64"]})(ref)
    with pytest.raises(opforge.DeclarationError, match="dtypes\\['x'\\]: unsupported dtype"):
        opforge.op("opforge.test.decl::BadDtypes", dtypes={"x": ["nonsense"]})(ref)
    good = opforge.op("opforge.test.decl::KernelSig")(ref)
    with pytest.raises(opforge.DeclarationError, match="does not accept attribute\\(s\\) alpha"):
        good.kernel("cpu")(lambda x: x)
    with pytest.raises(opforge.DeclarationError, match="takes 0 positional"):
        good.kernel("cpu")(lambda *, alpha: alpha)
    with pytest.raises(opforge.DeclarationError, match="kernel device must be one of"):
        good.kernel("tpu")(lambda x, *, alpha: x)
    with pytest.raises(opforge.DeclarationError, match="infer function"):
        good.infer(lambda: None)
    good.kernel("cpu")(lambda x, **attrs: x * attrs["alpha"])  # **kwargs stands in for the attributes


def test_eager_call_runs_reference_with_autograd():
    @opforge.op("opforge.test.decl::Square")
    def square(x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
        return scale * x * x

    x = torch.tensor([1.0, -3.0], requires_grad=True)
    square(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, -12.0])
    # the torch.library op runs the same reference
    np.testing.assert_allclose(square.torch_op(torch.ones(2), 3.0).numpy(), [3.0, 3.0])


def test_two_versions_side_by_side_and_redefinition():
    @opforge.op("opforge.test.decl::Versioned", version=1)
    def v1(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    @opforge.op("opforge.test.decl::Versioned", version=2)
    def v2(x: torch.Tensor, k: float = 10.0) -> torch.Tensor:
        return x + k

    assert lookup("opforge.test.decl", "Versioned", 1) is v1
    assert lookup("opforge.test.decl", "Versioned", 5) is v2
    assert onnx.defs.get_schema("Versioned", 1, "opforge.test.decl").since_version == 1
    assert "k" in onnx.defs.get_schema("Versioned", 2, "opforge.test.decl").attributes

    @opforge.op("opforge.test.decl::Versioned", version=2)  # redefinition replaces cleanly
    def v2_again(x: torch.Tensor, k: float = 20.0) -> torch.Tensor:
        return x + 2 * k

    assert lookup("opforge.test.decl", "Versioned", 2) is v2_again
    schema = onnx.defs.get_schema("Versioned", 2, "opforge.test.decl")
    assert onnx.helper.get_attribute_value(schema.attributes["k"].default_value) == 20.0
    assert v2_again.torch_op(torch.zeros(1)).item() == 40.0
    assert v1.torch_op(torch.zeros(1)).item() == 1.0
