"""The README stays a newcomer's page, docs/cli.md stays what the parsers say, and user-facing text
speaks only of the product."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO
from port_server.cli import docgen

DOCS = REPO / "docs"
README = REPO / "README.md"
#: How the project was specified, not what it does: never in user-facing text.
JARGON = re.compile(r"\bseeds?\b|\bseed ?0|\bissue [0-9]+|\.\./shared", re.IGNORECASE)


def test_cli_md_matches_the_parsers() -> None:
    assert docgen.main(["--check", str(DOCS / "cli.md")]) == 0
    text = (DOCS / "cli.md").read_text()
    for command in ("allocate", "release", "up", "start", "health", "skill install",
                    "sync dokploy"):
        assert f"### portctl {command}\n" in text or f"#### portctl {command}\n" in text
    assert "## portman\n" in text and "__complete" not in text


def test_docgen_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text(docgen.render().replace("portctl allocate", "portctl alloc", 1))
    assert docgen.main(["--check", str(stale)]) == 1


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, len(lines)
    first_block = lines[lines.index("```sh") + 1:lines.index("```")]
    assert first_block[0].startswith("make run") and first_block[1].startswith("make test")
    assert lines.index("```sh") < 5


def test_readme_links_every_doc_and_every_link_resolves() -> None:
    text = README.read_text()
    linked = set(re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text))
    missing = sorted(str(p.relative_to(REPO)) for p in DOCS.glob("*.md")
                     if str(p.relative_to(REPO)) not in linked)
    assert missing == [], f"link these from the README: {missing}"
    for page in [README, *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_user_facing_text_speaks_of_the_product() -> None:
    pages = {p.name: p.read_text() for p in [README, *DOCS.glob("*.md")]}
    pages["--help"] = docgen.render()
    found = {name: sorted(set(JARGON.findall(text))) for name, text in pages.items()}
    assert {k: v for k, v in found.items() if v} == {}
    for name in ("README.md", "cli.md", "--help"):  # no internal module or function names
        assert "port_server." not in pages[name].replace("python -m port_server.cli.docgen", "")
