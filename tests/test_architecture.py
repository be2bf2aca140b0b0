"""Import-direction contract: cli -> projector -> stylegan2_core, never the other way."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
FORBIDDEN = {
    "stylegan2_core": {"projector", "cli", "typer", "rich", "lpips", "cv2", "imageio", "scipy"},
    "projector": {"cli", "typer", "rich"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def _dynamic_imports(path: Path):
    """Top-level names of string literals passed to ``importlib.import_module`` or ``__import__``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.args[0].value.split(".")[0]


def test_import_direction():
    violations = []
    for package, banned in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in _imports(path):
                if name in banned:
                    violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not violations, violations


CORE_ALLOWED = {"torch", "numpy", "safetensors", *sys.stdlib_module_names}


def test_stylegan2_core_imports_only_torch_numpy_safetensors_stdlib():
    """Every import in stylegan2_core, at module level or inside a function, and every literal
    ``importlib.import_module`` / ``__import__`` name, is torch, numpy, safetensors or the stdlib."""
    violations = []
    for path in (ROOT / "stylegan2_core").rglob("*.py"):
        for name in (*_imports(path), *_dynamic_imports(path)):
            if name not in CORE_ALLOWED and name != "stylegan2_core":
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not violations, violations


def test_the_allowlist_check_sees_lazy_and_dynamic_imports(tmp_path):
    """The check above reads imports inside functions and import_module calls, not only the module level."""
    probe = tmp_path / "probe.py"
    probe.write_text("import torch\n\ndef f():\n    import scipy.linalg\n    from PIL import Image\n\n"
                     "def g():\n    return importlib.import_module('cv2.data')\n")
    assert sorted(set(_imports(probe)) | set(_dynamic_imports(probe))) == ["PIL", "cv2", "scipy", "torch"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _internal_edges(path: Path, modules: set[str]):
    """The stylegan2_core modules ``path`` imports (module level and inside functions), by full name."""
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (or a self-import)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_stylegan2_core_has_no_import_cycles():
    """No two stylegan2_core modules import each other, directly or through others, even lazily: a shared
    helper lives in a leaf module (``ops._params``, ``ops._activations``) that both sides import."""
    paths = {_module_name(p): p for p in (ROOT / "stylegan2_core").rglob("*.py")}
    graph = {name: {m for m in _internal_edges(path, set(paths)) if m != name and not name.startswith(m + ".")}
             for name, path in paths.items()}
    assert graph["stylegan2_core.ops._upfirdn2d_cuda"], "the graph must see the ops' relative imports"
    assert not _cycles(graph), _cycles(graph)


def test_video_writer_sits_below_the_edits():
    """``projector.video`` is the low-level writer the edits use: it imports nothing from ``projector.edits``,
    at module level or inside a function, relatively or by full name."""
    path = ROOT / "projector" / "video.py"
    modules = {_module_name(p) for p in (ROOT / "projector").rglob("*.py")}
    edges = set(_internal_edges(path, modules))
    assert "projector.images" in edges, "the check must see video.py's relative imports"
    assert not {m for m in edges if m == "projector.edits" or m.startswith("projector.edits.")}, edges


def test_only_cli_prints():
    for package in ("stylegan2_core", "projector"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
            assert not calls, f"{path.relative_to(ROOT)} calls print()"
