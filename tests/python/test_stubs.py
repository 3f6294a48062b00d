"""The shipped type stubs describe the extension that was built."""

import ast
from pathlib import Path

import rlft
import rlft._core as core


def _stub_tree():
    return ast.parse((Path(rlft.__file__).parent / "_core.pyi").read_text())


def test_stub_lists_every_public_name():
    public = sorted(name for name in dir(core) if not name.startswith("_"))
    declared = None
    for node in _stub_tree().body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "__all__":
            declared = sorted(ast.literal_eval(node.value))
    assert declared == public, "run scripts/make_stubs.sh after changing the bindings"


def test_stub_methods_exist():
    for node in _stub_tree().body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(core, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("__"):
                    assert hasattr(cls, item.name), f"{node.name}.{item.name} is stale"
