"""The scanner against the second corpus of real projects (dev containers, Procfiles, front-end
configs, Spring, puma/gunicorn, task runners), read from ``$PORT_SERVER_CORPUS2``.

That corpus labels one row per listener at the file that decides it, so it is scored per listener
(``corpus_score.score_listeners``); ``ambiguous`` rows are optional and negative projects expect
nothing. Run ``python tests/corpus_score.py DIR`` to print every difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require_env_dir
from corpus_score import score_listeners
from port_server.scanners import KINDS
from port_server.scanners.project import scan_project


@pytest.fixture
def corpus2() -> Path:
    return require_env_dir("PORT_SERVER_CORPUS2", "the second labelled corpus of real projects")


def test_corpus2_precision_and_recall(corpus2: Path) -> None:
    score = score_listeners(corpus2)
    assert len(score.required) > 30  # the labels were read
    assert score.precision >= 0.98, sorted(score.false_positives)
    assert score.recall >= 0.98, sorted(score.false_negatives)


def test_corpus2_scans_without_problems(corpus2: Path) -> None:
    projects = sorted(p for p in (corpus2 / "projects").iterdir() if p.is_dir())
    assert len(projects) > 30
    for project in projects:
        result = scan_project(project, environ={})
        assert result.problems == [], project.name
        for claim in result.claims:
            assert claim.kind in KINDS or claim.extra.get("source"), claim
            assert claim.line >= 1 and not claim.file.startswith("/")
            if claim.kind not in ("compose", "npm", "env", "make", "script"):
                assert claim.extra["source"], claim  # every new finding names its key
