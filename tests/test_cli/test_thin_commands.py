"""The CLI stays thin: every command function is argument parsing, one library call and output."""

import ast
from pathlib import Path

import pytest

COMMANDS = sorted((Path(__file__).parents[2] / "cli" / "commands").glob("*.py"))
MAX_LINES = 60


def _command_functions(path: Path):
    """Module-level functions that typer registers: ``<module>_command`` and ``@app.command`` functions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        decorated = any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command"
                        for d in node.decorator_list)
        if node.name == f"{path.stem}_command" or decorated:
            yield node


def test_every_command_module_defines_a_command():
    assert COMMANDS
    for path in COMMANDS:
        if path.name != "__init__.py":
            assert list(_command_functions(path)), f"{path.name}: no command function found"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_command_functions_are_at_most_60_lines(path):
    for fn in _command_functions(path):
        lines = fn.end_lineno - fn.lineno + 1  # the def through its end: signature, docstring and body
        assert lines <= MAX_LINES, f"{path.name}: {fn.name} is {lines} lines (at most {MAX_LINES}); move the logic " \
                                   "into the library"
