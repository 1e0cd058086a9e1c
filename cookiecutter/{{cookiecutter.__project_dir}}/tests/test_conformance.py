"""The opforge conformance suite over every op of the package: one test per op x check x sample.

Each op is checked in PyTorch (eager and fake tensors), in its kernels, in ONNX Runtime, in the ONNX
reference evaluator, through both torch.onnx exporters and, when it has one, its pure-ONNX body.
Checks that do not apply (no CUDA device, no portable body) are skipped with the reason.
"""

import opforge.conformance

import {{ cookiecutter.module_name }}.ops

test_conformance = opforge.conformance.pytest_cases({{ cookiecutter.module_name }}.ops)
