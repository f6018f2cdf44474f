"""Score the project scanner against a corpus of real projects with hand-made labels (the folder
named by PORT_SERVER_CORPUS, holding labels.tsv and projects/).

A label row is (project, file, port, protocol); rows whose note says ``ambiguous`` are optional:
finding them is not a false positive, missing them is not a false negative. ``host-network`` rows
match the scanner's ``network_mode: host`` flag claims; negative projects (port ``-``) expect none.
Run directly (``PORT_SERVER_CORPUS=... python tests/corpus_score.py``) to print every difference.
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS_VAR = "PORT_SERVER_CORPUS"


def corpus_dir() -> Path:
    """The corpus folder named by PORT_SERVER_CORPUS (.ci/run sets it)."""
    value = os.environ.get(CORPUS_VAR, "")
    if not value or not (Path(value) / "labels.tsv").is_file():
        raise FileNotFoundError(f"set {CORPUS_VAR} to a folder holding labels.tsv and projects/")
    return Path(value)


Key = tuple[str, str, str, str]


@dataclass
class Score:
    required: set[Key] = field(default_factory=set)
    optional: set[Key] = field(default_factory=set)
    predicted: set[Key] = field(default_factory=set)

    @property
    def true_positives(self) -> set[Key]:
        return self.predicted & self.required

    @property
    def false_positives(self) -> set[Key]:
        return self.predicted - self.required - self.optional

    @property
    def false_negatives(self) -> set[Key]:
        return self.required - self.predicted

    @property
    def precision(self) -> float:
        counted = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / counted if counted else 1.0

    @property
    def recall(self) -> float:
        return len(self.true_positives) / len(self.required) if self.required else 1.0


def load_labels(corpus: Path) -> tuple[set[Key], set[Key], set[str]]:
    required: set[Key] = set()
    optional: set[Key] = set()
    projects: set[str] = set()
    with (corpus / "labels.tsv").open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            project = row["project_dir"]
            projects.add(project)
            if row["host_port"] == "-":
                continue
            port = row["host_port"]
            protocol = "" if port == "host-network" else (row["protocol"] or "tcp")
            key = (project, row["file"], port, protocol)
            (optional if "ambiguous" in (row["note"] or "") else required).add(key)
    return required, optional - required, projects


def score_corpus(corpus: Path | None = None) -> Score:
    from port_server.scanners.project import scan_project

    corpus = corpus or corpus_dir()
    required, optional, projects = load_labels(corpus)
    score = Score(required=required, optional=optional)
    for project in sorted(projects):
        result = scan_project(corpus / "projects" / project, environ={})
        for claim in result.claims:
            if claim.network_mode_host:
                score.predicted.add((project, claim.file, "host-network", ""))
            elif claim.host_port is not None:
                score.predicted.add((project, claim.file, str(claim.host_port), claim.protocol))
    return score


@dataclass
class ListenerScore:
    """Corpus 2 scoring: one label row per listener (project, port, protocol) at the file that
    decides it (its README: "if two keys or files name the same listener, the port gets one row").
    A predicted listener is every claim of that port in the project; it is a true positive when one
    of its files is the labelled file, optional when it matches an ``ambiguous`` row, else a false
    positive. ``file_level`` keeps corpus 1's per-file figure for comparison."""

    required: set[Key] = field(default_factory=set)
    optional: set[Key] = field(default_factory=set)
    #: (project, port, protocol) -> the files that name it
    predicted: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)

    def _hit(self, labels: set[Key], listener: tuple[str, str, str], files: set[str]) -> bool:
        project, port, protocol = listener
        return any((project, f, port, protocol) in labels for f in files)

    @property
    def true_positives(self) -> set[tuple[str, str, str]]:
        return {k for k, files in self.predicted.items() if self._hit(self.required, k, files)}

    @property
    def false_positives(self) -> set[tuple[str, str, str]]:
        return {k for k, files in self.predicted.items()
                if not self._hit(self.required | self.optional, k, files)}

    @property
    def false_negatives(self) -> set[Key]:
        return {key for key in self.required
                if key[1] not in self.predicted.get((key[0], key[2], key[3]), set())}

    @property
    def precision(self) -> float:
        tp, fp = len(self.true_positives), len(self.false_positives)
        return tp / (tp + fp) if tp + fp else 1.0

    @property
    def recall(self) -> float:
        found = len(self.required) - len(self.false_negatives)
        return found / len(self.required) if self.required else 1.0


def score_listeners(corpus: Path) -> ListenerScore:
    from port_server.scanners.project import scan_project

    required, optional, projects = load_labels(corpus)
    score = ListenerScore(required=required, optional=optional)
    for project in sorted(projects):
        result = scan_project(corpus / "projects" / project, environ={})
        for claim in result.claims:
            if claim.host_port is not None and not claim.network_mode_host:
                key = (project, str(claim.host_port), claim.protocol)
                score.predicted.setdefault(key, set()).add(claim.file)
    return score


def main() -> int:
    if len(sys.argv) > 1:  # python tests/corpus_score.py DIR: a listener-level corpus (corpus 2)
        listeners = score_listeners(Path(sys.argv[1]))
        for listener in sorted(listeners.false_positives):
            print("FP", *listener, *sorted(listeners.predicted[listener]))
        for key in sorted(listeners.false_negatives):
            print("FN", *key)
        print(f"precision {listeners.precision:.3f} recall {listeners.recall:.3f} "
              f"(tp {len(listeners.true_positives)}, fp {len(listeners.false_positives)}, "
              f"fn {len(listeners.false_negatives)})")
        return 0
    score = score_corpus()
    for key in sorted(score.false_positives):
        print("FP", *key)
    for key in sorted(score.false_negatives):
        print("FN", *key)
    print(f"precision {score.precision:.3f} recall {score.recall:.3f} "
          f"(tp {len(score.true_positives)}, fp {len(score.false_positives)}, "
          f"fn {len(score.false_negatives)})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    sys.exit(main())
