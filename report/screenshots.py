"""``python -m report.screenshots`` (``make report-png``): two offline runs' reports, rendered to PNG.

Runs the default offline run and a run whose training jobs all fail (so the tuning job fails and the run
ends in Tuning Failed), writes each run's report, and renders each page to PNG with headless Chromium (the
Debian package ``chromium``), the way a person would first see it. Prints the PNGs' paths.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from offline.__main__ import Progress, write_report
from offline.__main__ import main as offline_main
from offline.engine import Engine

DEFAULT_OUT_DIR = Path("reports") / "png"
# A new profile each time; nothing a normal start would do in the background (updates, sync, GPU).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1280, 3000)


class ScreenshotError(RuntimeError):
    """Chromium is missing or did not write the PNG."""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise ScreenshotError("headless Chromium is not installed: apt-get install chromium (Debian, Ubuntu)")


def screenshot(page: Path, png: Path, size: tuple[int, int] = WINDOW) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(  # noqa: S603 -- a fixed program and arguments
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={png.resolve()}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    if done.returncode != 0 or not png.is_file() or png.stat().st_size == 0:
        raise ScreenshotError(f"chromium did not write {png} (exit {done.returncode}): {done.stderr[-2000:]}")
    return png


def default_run(report_dir: Path) -> Path:
    """The default offline run (input {}), as ``make demo`` runs it; the path of its report."""
    status = offline_main(["--quiet", "--report-dir", str(report_dir), "--name", "default-run"])
    if status != 0:
        raise ScreenshotError(f"the default offline run ended with exit status {status}")
    return report_dir / "default-run" / "report.html"


def tuning_failed_run(report_dir: Path) -> Path:
    """A run whose every training job fails: the tuning job fails and the run ends in Tuning Failed."""
    with Engine() as engine:
        engine.sagemaker.fail_training_jobs_when(
            lambda name, hyperparameters: "AlgorithmError: training ran out of memory (an example failure)"
        )
        result = engine.run({"trainRows": 2000}, name="tuning-failed-run")
        if result.status != "FAILED":
            raise ScreenshotError(f"the tuning-failed run ended {result.status}, not FAILED")
        path = write_report(engine, result, report_dir, Progress(sys.stderr, enabled=False))
    if path is None:
        raise ScreenshotError("the tuning-failed run's report was not written")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help=f"({DEFAULT_OUT_DIR})")
    args = parser.parse_args(argv)
    try:
        chromium()
        reports = args.out_dir / "html"
        pages = {"default-run": default_run(reports), "tuning-failed-run": tuning_failed_run(reports)}
        for name, page in pages.items():
            print(screenshot(page, args.out_dir / f"{name}.png"))
    except ScreenshotError as e:
        print(f"report-png: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
