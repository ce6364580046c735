"""The README is a front door: short, its two commands the ones CI runs, every link live.

The references are independent of the README: ``.ci/run`` (what CI executes) and the files
and headings of ``docs/``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 250
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def fenced_commands(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= MAX_README_LINES


def test_the_two_commands_are_the_ones_ci_runs():
    text = README.read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    install, tests = fenced_commands(section)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_test = ci[ci.index("# The README's test command, verbatim.") + 1]
    assert tests == ci_test
    # The install command is the test command's set-up, without the test extra, then a sweep.
    setup = ci_test.removesuffix(" && .venv/bin/pytest").replace("-e '.[test]'", "-e .")
    assert install == f"{setup} && .venv/bin/biril sweep"
    assert "torch==2.14.1 torchvision==0.29.1" in install


def test_every_relative_link_resolves():
    dead = []
    for page in pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.is_file():
                dead.append(f"{page.name}: {target} (no such file)")
            elif anchor and anchor not in anchors(file):
                dead.append(f"{page.name}: {target} (no such heading)")
    assert not dead, dead


def test_every_docs_page_is_linked_from_the_readme():
    linked = {target.partition("#")[0] for target in LINK.findall(README.read_text())}
    pages_here = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages_here <= linked, pages_here - linked
