"""onnxscript functions that several special-function bodies call (domain ``opforge.contrib.lib``).

A float literal in an onnxscript expression becomes a float32 constant; the float64 constants here are
TensorProtos instead, so the bodies keep double precision."""

from __future__ import annotations

from onnx import TensorProto
from onnx.helper import make_tensor
from onnxscript import opset18 as op
from onnxscript import script

from ._common import BODY_LIB

# erfcx(a) (1 + 2a) as a polynomial in y = (a - 3.75) / (a + 3.75), lowest power first: a Chebyshev fit on
# all of [0, inf), relative error below 1e-13 against torch.special.erfcx in float64 (tools/fit_erfcx.py)
_ERFCX_POWERS = [1.2375126308377933, -0.14024059858488785, 0.0035854154924910703, 0.08227673845004205,
                 -0.10880393037590447, 0.09230432187892106, -0.05869339555516738, 0.028362271536881124,
                 -0.009746599601851584, 0.001755652133778883, 0.00029379013522072626, -0.0002902238867832079,
                 5.146990229184305e-05, 2.2498616290421874e-05, -1.1180185797422987e-05, -1.0893477238967768e-06,
                 1.5094268154813295e-06, 1.2751207434449552e-08, -1.2652816638210474e-07]
ERFCX_COEFFICIENTS = make_tensor("erfcx_coefficients", TensorProto.DOUBLE, [len(_ERFCX_POWERS)], _ERFCX_POWERS)
ERFCX_EXPONENTS = make_tensor("erfcx_exponents", TensorProto.DOUBLE, [len(_ERFCX_POWERS)],
                              [float(k) for k in range(len(_ERFCX_POWERS))])
HUGE = make_tensor("huge", TensorProto.DOUBLE, [], [1e300])
CENTRE = make_tensor("centre", TensorProto.DOUBLE, [], [3.75])


@script(BODY_LIB, default_opset=op)
def erfcx_nonneg(a):  # noqa: ANN001, ANN201
    """exp(a^2) erfc(a) for float64 a >= 0 (+inf gives 0)."""
    finite = op.Min(a, op.Constant(value=HUGE))  # y stays defined at +inf, where the division gives 0
    centre = op.Constant(value=CENTRE)
    y = (finite - centre) / (finite + centre)
    powers = op.Pow(op.Unsqueeze(y, op.Constant(value_ints=[-1])), op.Constant(value=ERFCX_EXPONENTS))
    p = op.MatMul(powers, op.Constant(value=ERFCX_COEFFICIENTS))
    return p / (a + a + op.CastLike(1.0, a))
