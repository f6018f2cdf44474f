"""`make bench`: run every bench/bench_*.py in name order; each prints its own table of figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    extra = sys.argv[1:]
    failed = 0
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n== {script.stem} ==", flush=True)
        code = subprocess.call([sys.executable, str(script), *extra])
        if code:
            print(f"{script.name} exited {code}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
