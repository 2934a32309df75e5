"""The page's script: ES modules small enough to read (no function over 60 lines), each file installed with the
package. Reads the files; no browser."""
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "static"
LONGEST = 60  # lines per function, its first and last included
SCRIPTS = sorted(STATIC.rglob("*.js"))


def code_only(source: str) -> str:
    """The source with comments, strings and template text blanked (newlines kept): braces left are the code's.
    A template literal's ${...} stays code. Regular expression literals in this code hold no braces or quotes."""
    out, i, stack = [], 0, []  # stack: the template literals we are inside, for their ${ ... }
    while i < len(source):
        c, pair = source[i], source[i:i + 2]
        if stack and stack[-1] == "`":  # template text
            if pair == "${":
                stack.append("{")
                out.append("${")
                i += 2
                continue
            if c == "`":
                stack.pop()
            out.append(c if c in "`\n" else " ")
        elif pair == "//":
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
            continue
        elif pair == "/*":
            end = source.index("*/", i) + 2
            out.append(re.sub(r"[^\n]", " ", source[i:end]))
            i = end
            continue
        elif c in "'\"":
            end = i + 1
            while source[end] != c:
                end += 2 if source[end] == "\\" else 1
            out.append(c + " " * (end - i - 1) + c)
            i = end + 1
            continue
        elif c == "`":
            stack.append("`")
            out.append(c)
        elif c == "{" and stack:
            stack.append("{")
            out.append(c)
        elif c == "}" and stack and stack[-1] == "{":
            stack.pop()
            out.append(c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def function_lengths(source: str) -> list[tuple[str, int]]:
    """(name or first line, lines) of every function and arrow function with a block body."""
    code = code_only(source)
    lengths = []
    for match in re.finditer(r"\bfunction\b[^{;]*?\)\s*\{|=>\s*\{", code):
        start, depth = match.end() - 1, 0
        for end in range(start, len(code)):
            depth += {"{": 1, "}": -1}.get(code[end], 0)
            if depth == 0:
                break
        first = code.count("\n", 0, match.start())
        lines = code.count("\n", match.start(), end) + 1
        lengths.append((source.splitlines()[first].strip(), lines))
    return lengths


def test_the_measure_counts_lines_of_functions_and_ignores_braces_in_text():
    source = 'function a(x) {\n  const s = "}}";\n  // }\n  return `${x}}`;\n}\nconst b = () => {\n};\n'
    assert function_lengths(source) == [("function a(x) {", 5), ("const b = () => {", 2)]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: str(path.relative_to(STATIC)))
def test_no_function_is_longer_than_60_lines(script):
    lengths = function_lengths(script.read_text())
    too_long = [(name, lines) for name, lines in lengths if lines > LONGEST]
    assert not too_long, f"split these into named steps: {too_long}"


def test_the_scripts_are_measured():
    assert sum(len(function_lengths(script.read_text())) for script in SCRIPTS) > 20, "the measure finds nothing"


def test_every_script_is_installed_with_the_package():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["app.static"]
    for script in SCRIPTS:
        name = script.relative_to(STATIC).as_posix()
        assert any(fnmatch(name, pattern) and name.count("/") == pattern.count("/") for pattern in patterns), name


def test_the_page_loads_its_script_as_a_module():
    page = (ROOT / "templates" / "index.html").read_text()
    assert re.search(r'<script type="module" src="[^"]*app\.js', page)
