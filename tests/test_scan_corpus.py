"""The scanner against a corpus of real projects (the folder named by PORT_SERVER_CORPUS).

Precision and recall over (project, file, port, protocol), ``ambiguous`` rows optional; see
corpus_score.py, which also prints every difference when run directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require_env_dir
from corpus_score import CORPUS_VAR, score_corpus
from port_server.scanners.project import scan_project


@pytest.fixture
def corpus() -> Path:
    return require_env_dir(CORPUS_VAR, "the labelled corpus of real projects")


def test_corpus_precision_and_recall(corpus: Path) -> None:
    score = score_corpus(corpus)
    assert len(score.required) > 150  # the labels were read
    assert score.false_positives == set()
    assert score.false_negatives == set()
    assert score.precision == 1.0 and score.recall == 1.0


def test_corpus_scans_without_problems(corpus: Path) -> None:
    projects = sorted((corpus / "projects").iterdir())
    assert len(projects) > 30
    for project in projects:
        result = scan_project(project, environ={})
        assert result.problems == [], project.name
        for claim in result.claims:
            assert claim.kind in ("compose", "npm", "env", "make", "script")
            assert claim.line >= 1
            assert not claim.file.startswith("/")
