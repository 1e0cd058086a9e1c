"""Export a small torch model that uses the package's op and run it in ONNX Runtime."""

import numpy as np
import opforge
import torch

from {{ cookiecutter.module_name }}.ops.{{ cookiecutter.__op_module }} import {{ cookiecutter.__op_module }}


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return {{ cookiecutter.__op_module }}(self.fc(x), limit=0.5)


def test_export_and_run_in_onnxruntime(tmp_path):
    torch.manual_seed(0)
    model = TinyNet().eval()
    path = tmp_path / "tiny_net.onnx"
    proto = opforge.export(model, (torch.randn(2, 8),), path, dynamic_shapes=({0: torch.export.Dim("batch")},))

    nodes = [n for n in proto.graph.node if (n.domain, n.op_type) == ({{ cookiecutter.__op_module }}.domain, {{ cookiecutter.__op_module }}.op_type)]
    assert len(nodes) == 1, [f"{n.domain}::{n.op_type}" for n in proto.graph.node]

    session = opforge.InferenceSession(str(path))
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)  # another batch size
    (actual,) = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    opforge.assert_close(expected, actual, "TinyNet in opforge.InferenceSession vs eager PyTorch")
