"""Every relative link in the docs and runbooks points at a file that exists,
and at a heading of it when it names one."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md", ROOT / "ARCHITECTURE.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path: pathlib.Path) -> set[str]:
    found = set()
    for heading in re.findall(r"^#+ (.+)$", path.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def broken(path: pathlib.Path) -> list[str]:
    problems = []
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            problems.append(f"{path.relative_to(ROOT)}: {target} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{path.relative_to(ROOT)}: {target} names no heading")
    return problems


def test_relative_links_resolve():
    assert len(DOCS) > 15
    problems = [p for doc in DOCS for p in broken(doc)]
    assert problems == []


def test_the_link_check_sees_a_broken_link(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n[ok](a.md#top) [gone](b.md) [bad](a.md#nowhere)\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        problems = broken(tmp_path / "a.md")
    finally:
        ROOT = saved
    assert problems == ["a.md: b.md does not exist", "a.md: a.md#nowhere names no heading"]
