"""Import-direction contract: cli -> projector -> stylegan2_core, never the other way."""

import ast
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


def test_import_direction():
    violations = []
    for package, banned in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in _imports(path):
                if name in banned:
                    violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not violations, violations


def test_stylegan2_core_top_level_imports_are_torch_numpy_stdlib():
    import sys

    allowed = {"torch", "numpy", *sys.stdlib_module_names}
    for path in (ROOT / "stylegan2_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only; lazy imports inside functions are checked above
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                assert name in allowed, f"{path.relative_to(ROOT)} imports {name} at module level"


def test_only_cli_prints():
    for package in ("stylegan2_core", "projector"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
            assert not calls, f"{path.relative_to(ROOT)} calls print()"
