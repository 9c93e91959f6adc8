"""Cold-start import cost of the Chalice app against its unavoidable dependencies.

Every function of the stack ships in one zip and imports `app` on a cold start, so worker-only imports must stay lazy.
This measures, in fresh interpreters and interleaved in the same run, the median time of `import app` and of importing
only chalice, boto3, pynamodb and httpx (what any function needs anyway), and prints their ratio (target <= 1.3) with
the heaviest of the project's own modules on `import app`.

Usage: python bench/cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = "import app"
BASELINE = "import chalice, boto3, pynamodb.models, httpx"
TARGET_RATIO = 1.3


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.setdefault("AWS_DEFAULT_REGION", "cn-north-1")
    env["PYTHONPATH"] = str(ROOT)
    return env


def import_seconds(statement: str) -> float:
    """Seconds spent in `statement` by a fresh interpreter (its own start-up excluded, the same for both)."""
    probe = f"import time\nstarted = time.perf_counter()\n{statement}\nprint(time.perf_counter() - started)"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_environment(), capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def heaviest_own_modules(limit: int = 5) -> list[tuple[str, float]]:
    """The project's modules with the largest cumulative import time (ms) on `import app`, from -X importtime."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", APP],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    own: dict[str, float] = {}
    for line in out.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].startswith(("chalicelib", "app")):
            own[parts[2]] = int(parts[1]) / 1000
    return sorted(own.items(), key=lambda item: -item[1])[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import_seconds(APP)
    import_seconds(BASELINE)
    app_runs: list[float] = []
    baseline_runs: list[float] = []
    for _ in range(args.runs):
        app_runs.append(import_seconds(APP))
        baseline_runs.append(import_seconds(BASELINE))
    app_ms = statistics.median(app_runs) * 1000
    baseline_ms = statistics.median(baseline_runs) * 1000
    ratio = app_ms / baseline_ms
    print(
        json.dumps(
            {
                "bench": "cold_start",
                "runs": args.runs,
                "import_app_median_ms": round(app_ms, 1),
                "import_deps_median_ms": round(baseline_ms, 1),
                "ratio": round(ratio, 3),
                "target_ratio": TARGET_RATIO,
                "meets_target": ratio <= TARGET_RATIO,
                "heaviest_own_modules_ms": dict(heaviest_own_modules()),
            }
        )
    )


if __name__ == "__main__":
    main()
