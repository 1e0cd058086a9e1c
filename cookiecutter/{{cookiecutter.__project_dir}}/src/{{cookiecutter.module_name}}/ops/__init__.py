"""The ops of {{ cookiecutter.module_name }}: one op per module.

This list of imports is the registry: importing a module declares its op. To add an op, add its
module here (see "Add an op" in README.md); the conformance tests pick it up from this package.
"""

from . import {{ cookiecutter.__op_module }} as {{ cookiecutter.__op_module }}

__all__ = ["{{ cookiecutter.__op_module }}"]
