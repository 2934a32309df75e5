"""The code's layout, as the developers' guide draws it: app -> model <- training (bench reads any of them), and no
import circles among the modules (a module-level import that comes back to itself through others)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "training", "app", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or \
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def module_level_imports(path: Path, known: set[str]) -> set[str]:
    """The project's modules a module imports when it is imported: its top level, and blocks there (try, if), not
    functions (imported when called) nor `if TYPE_CHECKING:` (never at run time)."""
    found = set()
    package = module_name(path).rpartition(".")[0] if path.name != "__init__.py" else module_name(path)

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and is_type_checking(node):
                visit(node.orelse)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, up level - 1 packages
                    parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)

    visit(ast.parse(path.read_text()).body)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    paths = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    known = {module_name(path) for path in paths}
    return {module_name(path): module_level_imports(path, known) - {module_name(path)} for path in paths}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def connect(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_no_module_imports_itself_back_through_others():
    assert circles(graph()) == []


def test_the_finder_sees_imports_and_a_circle_when_there_is_one():
    edges = graph()
    assert {"model.weights", "model.reference"} <= edges["model.colorizer"]  # at the top of the module
    assert "training.config" not in edges["training.recipes"]  # under `if TYPE_CHECKING:` only
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_app_and_training_meet_only_in_model():
    edges = graph()
    wrong = sorted(f"{module} imports {other}" for module, imported in edges.items() for other in imported
                   if module.startswith("model") and other.split(".")[0] in ("app", "training", "bench")
                   or module.startswith("app") and other.split(".")[0] in ("training", "bench")
                   or module.startswith("training") and other.split(".")[0] in ("app", "bench"))
    assert wrong == []
