"""The conformance suite: does each op agree across PyTorch, ONNX Runtime and the ONNX reference?

``opforge.conformance.check(op) -> Report`` runs the named checks (:data:`CHECKS`) over an op's
samples and the variants derived from them; ``pytest_cases(package.ops)`` turns the same checks
into one pytest test per op x check x sample; ``emit_node_tests`` writes the ONNX node-test
layout so another runtime can be checked.
"""

from .cases import SEED as SEED
from .cases import Case as Case
from .cases import op_cases as op_cases
from .checks import CHECKS as CHECKS
from .checks import OpChecker as OpChecker
from .checks import check as check
from .emit import emit_node_tests as emit_node_tests
from .pytest_cases import pytest_cases as pytest_cases
from .pytest_cases import resolve_ops as resolve_ops
from .report import CheckResult as CheckResult
from .report import Report as Report
from .report import reports_to_markdown as reports_to_markdown

__all__ = ["CHECKS", "SEED", "Case", "CheckResult", "OpChecker", "Report", "check", "emit_node_tests", "op_cases",
           "pytest_cases", "reports_to_markdown", "resolve_ops"]
