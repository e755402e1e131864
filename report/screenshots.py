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

from offline.engine import Engine
from offline.progress import Progress, log_warnings_to_stderr
from offline.summary import write_report

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
# Width and height of each page's screenshot: about the height of the page.
WINDOW = (1280, 3700)
WINDOWS = {"default-run": WINDOW, "tuning-failed-run": (1280, 1700)}


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


def run_and_report(report_dir: Path, name: str, *, fail_training: bool = False) -> Path:
    """One offline run with the template's defaults and input {} (what ``make demo`` runs); with
    ``fail_training`` every training job fails, so the tuning job fails and the run ends in Tuning Failed.
    Returns the path of the run's report."""
    with log_warnings_to_stderr(enabled=False), Engine() as engine:
        if fail_training:
            engine.sagemaker.fail_training_jobs_when(
                lambda job, hyperparameters: "AlgorithmError: training ran out of memory (an example failure)"
            )
        result = engine.run({}, name=name)
        expected = "FAILED" if fail_training else "SUCCEEDED"
        if result.status != expected:
            raise ScreenshotError(f"the run {name} ended {result.status}, not {expected}: {result.error}")
        path = write_report(engine, result, report_dir, Progress(sys.stderr, enabled=False))
    if path is None:
        raise ScreenshotError(f"the report of the run {name} was not written")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help=f"({DEFAULT_OUT_DIR})")
    args = parser.parse_args(argv)
    try:
        chromium()
        reports = args.out_dir / "html"
        pages = {
            "default-run": run_and_report(reports, "default-run"),
            "tuning-failed-run": run_and_report(reports, "tuning-failed-run", fail_training=True),
        }
        for name, page in pages.items():
            print(screenshot(page, args.out_dir / f"{name}.png", WINDOWS[name]))
    except ScreenshotError as e:
        print(f"report-png: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
