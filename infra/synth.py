"""`make synth`: every region of `infra/regions.json` synthesized offline and checked by cfn-lint.

For each region it writes, under `build/regions/<region>/` (git-ignored): `merge.json` (what
`chalice package --merge-template` merges) and `sam.json` (the merged SAM template, built offline with Chalice's
own generator and merger: the same template `chalice package` writes, without building the code zip, which needs the
Lambda wheels from the package index). With `--package` it also runs the real `chalice package` for each region into
`build/regions/<region>/package/` (network needed) and checks that its template equals the offline one but for the
code location. It prints one line per region (resources, size, seconds) and
exits non-zero naming every cfn-lint finding.

    python -m infra.synth [--out build/regions] [--package]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cfnlint.api import lint

from infra.build import merge_template, synthesize
from infra.regions import Region, load_regions
from local.api_server import PROJECT_DIR

DEFAULT_OUT = PROJECT_DIR / "build" / "regions"


def lint_findings(template: dict[str, Any], region: Region) -> list[str]:
    """cfn-lint's findings (errors, warnings, informational) on a synthesized template, as text."""
    return [str(match) for match in lint(json.dumps(template), regions=[region.region])]


def chalice_package(region: Region, merge_file: Path, out: Path) -> None:
    """The real `chalice package` of the region's stage with the merge template (builds the code zip)."""
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [str(chalice), "package", "--stage", region.stage, "--merge-template", str(merge_file), str(out)],
        cwd=PROJECT_DIR,
        env={**os.environ, "AWS_DEFAULT_REGION": region.region},
        check=True,
    )


def without_code(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every function's CodeUri dropped (the one thing the offline synthesis does not build)."""
    copy = json.loads(json.dumps(template))
    for resource in copy["Resources"].values():
        resource.get("Properties", {}).pop("CodeUri", None)
    return copy


def synth_all(out: Path, package: bool = False) -> list[str]:
    """Synthesize and lint every region into `out`; returns every finding (empty when all are clean)."""
    from app import app

    findings = []
    for region in load_regions():
        started = time.perf_counter()
        folder = out / region.region
        folder.mkdir(parents=True, exist_ok=True)
        merge_file = folder / "merge.json"
        merge_file.write_text(json.dumps(merge_template(app, region), indent=2) + "\n")
        template = synthesize(app, region)
        sam = json.dumps(template, indent=2) + "\n"
        (folder / "sam.json").write_text(sam)
        synth_seconds = time.perf_counter() - started
        found = lint_findings(template, region)
        findings += [f"{region.region}: {f}" for f in found]
        if package:
            chalice_package(region, merge_file, folder / "package")
            packaged = json.loads((folder / "package" / "sam.json").read_text())
            if without_code(packaged) != without_code(template):
                findings.append(f"{region.region}: chalice package wrote a template other than the offline one")
        print(
            f"{region.region}: {len(template['Resources'])} resources, {len(sam) // 1024} KiB, "
            f"synthesized in {synth_seconds:.1f} s, cfn-lint {'clean' if not found else f'{len(found)} finding(s)'} "
            f"({time.perf_counter() - started:.1f} s in all) -> {folder}"
        )
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthesize and cfn-lint every region of infra/regions.json.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--package", action="store_true", help="also run the real `chalice package` (network)")
    args = parser.parse_args(argv)
    findings = synth_all(args.out, args.package)
    for finding in findings:
        print(finding, file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
