{{ (cookiecutter.project_name ~ ": custom ONNX operators in the ``" ~ cookiecutter.onnx_domain ~ "`` domain, declared with opforge.") | tojson }}

# Importing this package declares its ops (see ops/__init__.py), so opforge.export can export
# models that use them and opforge.InferenceSession can run those models.

from . import ops as ops

__version__ = "0.1.0"
DOMAIN = {{ cookiecutter.onnx_domain | tojson }}

__all__ = ["DOMAIN", "ops"]
