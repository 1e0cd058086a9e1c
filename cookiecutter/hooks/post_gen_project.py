"""Tidy the freshly rendered op package and print what to do next."""

import os
import shutil

PROJECT_DIR = os.getcwd()
MODULE = {{ cookiecutter.module_name | tojson }}
OP_MODULE = {{ cookiecutter.__op_module | tojson }}
OP = {{ (cookiecutter.onnx_domain ~ "::" ~ cookiecutter.op_name) | tojson }}
REQUIREMENT = {{ cookiecutter._opforge_requirement | tojson }}


def remove_bytecode(root: str) -> None:
    # pip byte-compiles every .py file of a wheel, the template's too: drop what that left here
    for folder, dirs, _ in os.walk(root):
        if "__pycache__" in dirs:
            shutil.rmtree(os.path.join(folder, "__pycache__"))
            dirs.remove("__pycache__")


def main() -> None:
    remove_bytecode(PROJECT_DIR)
    print(f"""
Created {PROJECT_DIR}
  {OP} is declared in src/{MODULE}/ops/{OP_MODULE}.py.

Next steps:
  cd {PROJECT_DIR}
  python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu  # CPU torch, Linux
  python -m pip install -e ".[test]"  # opforge comes from {REQUIREMENT}
  python -m pytest  # the conformance suite and an export / ONNX Runtime round trip
  opforge ops {MODULE}.ops  # list the package's ops

To add an op, follow "Add an op" in README.md.""")


if __name__ == "__main__":
    main()
