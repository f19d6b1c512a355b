#!/usr/bin/env python3
"""Writes the Inputs and Outputs tables of every module's README.md from its
variables.tf and outputs.tf, with types and defaults as written in the HCL.

    readme.py          rewrite the tables
    readme.py --check  exit 1 if a README is not what this would write
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPEN, CLOSE = "({[", ")}]"


def blocks(text: str, kind: str):
    """(name, body) of each top-level `kind "name" { ... }` block."""
    for match in re.finditer(rf'^{kind} "([^"]+)" \{{\n', text, re.M):
        body, depth, i = [], 1, match.end()
        while depth:
            line_end = text.index("\n", i) + 1
            line = text[i:line_end]
            depth += nesting(line)
            body.append(line)
            i = line_end
        yield match.group(1), "".join(body[:-1])


def nesting(line: str) -> int:
    """Brackets opened minus closed on a line, outside string literals."""
    depth, quoted, escaped = 0, False, False
    for ch in line:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in OPEN:
            depth += 1
        elif ch in CLOSE:
            depth -= 1
    return depth


def attribute(body: str, name: str):
    """The expression of a top-level attribute, on one line."""
    lines = body.splitlines()
    for n, line in enumerate(lines):
        match = re.match(rf"^  {name}\s*=\s*(.*)$", line)
        if not match:
            continue
        parts, depth = [match.group(1)], nesting(match.group(1))
        while depth > 0:
            n += 1
            parts.append(lines[n].strip())
            depth += nesting(lines[n])
        return join(parts)
    return None


def join(parts):
    """Lines of a multi-line expression as one: attributes of an object are
    separated by commas."""
    out = parts[0]
    for part in parts[1:]:
        if out.endswith(("(", "{", "[")) or part.startswith((")", "}", "]")):
            out += " " + part
        else:
            out += ", " + part
    return re.sub(r"\s+", " ", out).replace(", ,", ",")


def string_value(expression: str) -> str:
    return expression[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def tables(module: Path) -> str:
    rows = ["## Inputs", "", "| name | type | default | description |", "|---|---|---|---|"]
    for name, body in blocks((module / "variables.tf").read_text(), "variable"):
        default = attribute(body, "default")
        rows.append(
            f"| `{name}` | `{cell(attribute(body, 'type'))}` | "
            f"{'required' if default is None else '`' + cell(default) + '`'} | "
            f"{cell(string_value(attribute(body, 'description')))} |"
        )
    rows += ["", "## Outputs", "", "| name | description |", "|---|---|"]
    for name, body in blocks((module / "outputs.tf").read_text(), "output"):
        rows.append(f"| `{name}` | {cell(string_value(attribute(body, 'description')))} |")
    return "\n".join(rows) + "\n"


def expected(module: Path) -> str:
    readme = (module / "README.md").read_text()
    head = readme.split("\n## Inputs\n", 1)[0].rstrip("\n")
    return head + "\n\n" + tables(module)


def roots():
    return sorted(p for p in (ROOT / "modules").iterdir() if p.is_dir()) + sorted(
        p for p in (ROOT / "examples").iterdir() if p.is_dir()
    )


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for module in roots():
        if not (module / "README.md").is_file():
            stale.append(module.relative_to(ROOT))
            continue
        want = expected(module)
        if (module / "README.md").read_text() != want:
            stale.append(module.relative_to(ROOT))
            if not check:
                (module / "README.md").write_text(want)
    if check and stale:
        print("README tables out of date (run terraform/scripts/readme.py):", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
