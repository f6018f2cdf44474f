"""A project's .gitignore files, read with ``pathspec`` (git's own wildmatch rules: escapes,
trailing spaces, ``**``, anchors, directory-only patterns, ``!`` negation). One rule list per
directory; a nested list overrides the verdict of the outer ones only where one of its patterns
matches, as in git."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec


def parse(text: str) -> GitIgnoreSpec:
    from pathspec import GitIgnoreSpec

    return GitIgnoreSpec.from_lines(text.splitlines())


def ignored(rules: GitIgnoreSpec, rel: str, is_dir: bool, current: bool = False) -> bool:
    """Whether ``rel`` (relative to the .gitignore's folder) is ignored; ``current`` is the
    verdict of the outer rule lists, which these rules may override."""
    verdict = rules.check_file(rel + "/" if is_dir else rel).include
    return current if verdict is None else bool(verdict)
