"""The layout rules of `terraform fmt` that matter for review, as a checker.

- two-space indentation, no tabs, no trailing white space;
- in a run of consecutive single-line attributes at one indentation, the
  `=` signs line up (one space after the longest name).

`python hclfmt.py DIR` lists problems; `--fix` aligns the `=` signs.
"""

import re
import sys
from pathlib import Path

ATTR = re.compile(r"^(?P<indent> *)(?P<name>[A-Za-z_][A-Za-z0-9_-]*|\"[^\"]+\")(?P<pad> *)= ")


def _single_line_attr(line: str):
    m = ATTR.match(line)
    stripped = line.rstrip()
    if m and not stripped.endswith(("{", "[", "(")) and "<<" not in stripped:
        return m
    return None


def _runs(lines: list[str]):
    """Runs of two or more consecutive single-line attributes at one indent."""
    run: list[tuple[int, re.Match]] = []
    for i, line in enumerate(lines + [""]):
        m = _single_line_attr(line)
        if run and (m is None or len(m.group("indent")) != len(run[-1][1].group("indent"))):
            if len(run) > 1:
                yield run
            run = []
        if m:
            run.append((i, m))


def _width(run) -> int:
    return max(len(m.group("name")) for _, m in run) + 1


def problems(text: str, path: str = "<text>") -> list[str]:
    found = []
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if "\t" in line:
            found.append(f"{path}:{number}: tab")
        if line != line.rstrip():
            found.append(f"{path}:{number}: trailing white space")
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and indent % 2:
            found.append(f"{path}:{number}: indentation of {indent} spaces")
    for run in _runs(lines):
        want = _width(run)
        for i, m in run:
            if len(m.group("name")) + len(m.group("pad")) != want:
                found.append(f"{path}:{i + 1}: '=' not aligned with its neighbours")
    return found


def align(text: str) -> str:
    lines = text.split("\n")
    for run in _runs(lines):
        want = _width(run)
        for i, m in run:
            name = m.group("name")
            lines[i] = f"{m.group('indent')}{name}{' ' * (want - len(name))}= {lines[i][m.end():]}"
    return "\n".join(lines)


def tree_problems(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.tf")):
        found += problems(path.read_text(), str(path.relative_to(root)))
    return found


if __name__ == "__main__":
    root = Path(next((a for a in sys.argv[1:] if not a.startswith("--")), "."))
    if "--fix" in sys.argv:
        for p in root.rglob("*.tf"):
            p.write_text(align(p.read_text()))
    issues = tree_problems(root)
    print("\n".join(issues) or "formatted")
    sys.exit(1 if issues else 0)
