"""The conformance suite: does each op agree across PyTorch, ONNX Runtime and the ONNX reference?"""
