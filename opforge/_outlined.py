"""What the exporter and the runtime share about outlined functions (graph breaks).

``exporters/graph_breaks.py`` declares them; ``kernels/`` must explain, when a model file holds
outlined nodes that no op of this process runs, why and what to do. Neither side imports the other,
so the domain and that explanation live here.
"""

from __future__ import annotations

import json

import onnx

DOMAIN = "opforge.outlined"
SUMMARY_KEY = "opforge.export_summary"  # exporters/summary.py METADATA_KEY; kept equal by a test


def load_hint(model: onnx.ModelProto, missing: list[str]) -> str:
    """A sentence for MissingKernelError when some of ``missing`` ("domain::op (...)") were outlined.

    The model file is untrusted: its summary is read as JSON, only its strings are shown (shortened,
    quoted), and no module it names is imported.
    """
    if not any(m.startswith(DOMAIN + "::") for m in missing):
        return ""
    names: list[str] = []
    for prop in model.metadata_props:
        if prop.key != SUMMARY_KEY:
            continue
        try:
            entries = json.loads(prop.value)
        except ValueError:
            break
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("kind") == "graph break":
                names.append(repr(str(entry.get("name", "?"))[:200]))
    where = f" (from {', '.join(names[:10])})" if names else ""
    return (f" The {DOMAIN} op(s){where} were outlined at a graph break when the model was exported: such a node "
            "runs a Python function that only the exporting process knew, and opforge never imports modules "
            "named in a model file. Make each permanent: declare it with @opforge.op (the export summary holds a "
            f"paste-ready declaration: the ExportSummaryWarning, or the file's {SUMMARY_KEY!r} metadata_props "
            "entry), import that module before loading, and export again.")
