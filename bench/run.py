"""``make bench``: measures the project's claims, prints a table and writes ``bench/results.json``.

Sections (``--only`` picks some): ``quality`` (test RMSE over the noise floor, the sample's tuning against
ours, and the training jobs it used), ``real_data`` (the default configuration against plain XGBoost with
early stopping on public data sets), ``offline_run`` (wall time of the default offline run), ``datagen``
(rows per second and peak memory of the generate_dataset handler), ``cold_start`` (handler import time
against ``import boto3``), ``warm_start`` (training jobs to come within 2% of a cold run's best, cold and
warm-started). Each section records its figures, its repetitions, the medians and the machine it
ran on. ``--quick`` runs fewer repetitions (for a look, not for the record). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import cold_start, datagen, offline_run, quality, real_data, warm_start
from bench.common import ROOT, machine

RESULTS_FILE = ROOT / "bench" / "results.json"
SECTIONS = ("quality", "real_data", "offline_run", "datagen", "cold_start", "warm_start")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a minute)")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS_FILE, help=f"where to write the figures ({RESULTS_FILE})"
    )
    return parser.parse_args(argv)


def run_sections(
    sections: Sequence[str], quick: bool, log: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "quality": lambda: quality.measure(quality.QUICK_SEEDS if quick else quality.DEFAULT_SEEDS, log=log),
        "real_data": lambda: real_data.measure(
            real_data.QUICK_SPLITS if quick else real_data.DEFAULT_SPLITS, log=log
        ),
        "offline_run": lambda: offline_run.measure(
            offline_run.QUICK_REPETITIONS if quick else offline_run.DEFAULT_REPETITIONS, log=log
        ),
        "datagen": lambda: datagen.measure(
            repetitions=datagen.QUICK_REPETITIONS if quick else datagen.REPETITIONS, traced=not quick, log=log
        ),
        "cold_start": lambda: cold_start.measure(
            cold_start.QUICK_ROUNDS if quick else cold_start.DEFAULT_ROUNDS, log=log
        ),
        "warm_start": lambda: warm_start.measure(
            warm_start.QUICK_SEEDS if quick else warm_start.DEFAULT_SEEDS,
            data=warm_start.QUICK_DATA if quick else None,
            log=log,
        ),
    }
    results: dict[str, dict[str, Any]] = {}
    for name in sections:
        started = time.monotonic()
        log(f"== {name}")
        results[name] = runners[name]()
        results[name]["section_seconds"] = round(time.monotonic() - started, 1)
    return results


def _mark(ok: Any) -> str:
    return "yes" if ok is True else "NO" if ok is False else ""


def table_rows(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, met) rows for the printed table."""
    rows: list[tuple[str, str, str, str]] = []
    if "quality" in results:
        q = results["quality"]
        n = q["repetitions"]
        sample, ours = q["configurations"]["sample"], q["configurations"]["ours"]
        rows.append(
            (
                "quality: sample's tuning, RMSE / noise floor",
                f"{sample['ratio']['median']:.3f} (median of {n} seeds)",
                "",
                "",
            )
        )
        rows.append(
            (
                "quality: ours, RMSE / noise floor",
                f"{ours['ratio']['median']:.3f} (median of {n} seeds)",
                f"<= {quality.TARGET_RATIO:.2f}",
                _mark(q["meets_target"]),
            )
        )
        jobs = [sum(v for k, v in r["training_jobs"].items() if k != "InProgress") for r in ours["runs"]]
        rows.append(
            (
                "quality: ours, training jobs used",
                f"{sorted(jobs)[len(jobs) // 2]} (median of {n} seeds)",
                f"<= {quality.TARGET_JOBS}",
                _mark(max(jobs) <= quality.TARGET_JOBS),
            )
        )
    if "real_data" in results:
        r = results["real_data"]
        for name, entry in r["data_sets"].items():
            ours = sorted(run["ours_rmse"] for run in entry["runs"])
            base = sorted(run["baseline_rmse"] for run in entry["runs"])
            middle = len(ours) // 2
            rows.append(
                (
                    f"real data {name} ({entry['rows']:,} rows): ours / baseline RMSE",
                    f"{entry['geometric_mean']:.3f} (geometric mean of {len(entry['runs'])} splits; "
                    f"median RMSE {ours[middle]:.4g} vs {base[middle]:.4g}; "
                    f"{entry['training_jobs']['median']:.0f} jobs)",
                    f"<= {real_data.TARGET_WORST_SET:.2f}",
                    _mark(entry["geometric_mean"] <= real_data.TARGET_WORST_SET),
                )
            )
        rows.append(
            (
                "real data, every split of every set",
                f"{r['geometric_mean']:.3f} (geometric mean)",
                f"<= {real_data.TARGET_MEAN:.2f}",
                _mark(r["geometric_mean"] <= real_data.TARGET_MEAN),
            )
        )
    if "offline_run" in results:
        o = results["offline_run"]
        rows.append(
            (
                "offline run, python -m offline --quiet",
                f"{o['cli_seconds']['median']:.1f} s (median of {o['repetitions']})",
                f"<= {offline_run.TARGET_SECONDS:.0f} s",
                _mark(o["meets_target"]),
            )
        )
        rows.append(
            (
                "offline run, Engine.run in process",
                f"{o['in_process_seconds']['median']:.1f} s (median of {o['repetitions']})",
                "",
                "",
            )
        )
    if "datagen" in results:
        d = results["datagen"]
        for size in d["sizes"]:
            entry = d["by_size"][str(size)]
            moto_rate = entry["handler_moto_rows_per_second"]
            sink_rate = entry["generation_only_rows_per_second"]
            memory = entry["memory"]
            rows.append(
                (
                    f"datagen {size:,} rows: handler + moto S3",
                    f"{moto_rate['median']:,.0f} rows/s (median of {moto_rate['repetitions']})",
                    f">= {datagen.TARGET_ROWS_PER_SECOND:,}",
                    _mark(moto_rate["median"] >= datagen.TARGET_ROWS_PER_SECOND),
                )
            )
            rows.append(
                (
                    f"datagen {size:,} rows: handler, S3 a sink",
                    f"{sink_rate['median']:,.0f} rows/s (median of {sink_rate['repetitions']})",
                    f">= {datagen.TARGET_ROWS_PER_SECOND:,}",
                    _mark(sink_rate["median"] >= datagen.TARGET_ROWS_PER_SECOND),
                )
            )
            rows.append(
                (
                    f"datagen {size:,} rows: peak memory",
                    _memory_figure(memory),
                    "flat",
                    "",
                )
            )
        limit = d.get("rss_at_shard_limit")
        if limit:
            rows.append(
                (
                    f"datagen {limit['train_rows']:,} rows (DatasetShardRows): resident set",
                    f"RSS +{limit['rss_growth_mib']:.1f} MiB (1 run)",
                    "",
                    "",
                )
            )
        flat = _mark(d["meets_target"]["memory_flat"])
        rows.append(("datagen: memory flat as rows grow (tracemalloc)", "", "flat", flat))
    if "cold_start" in results:
        c = results["cold_start"]
        base = c["baseline_median_seconds"]
        figure = f"{base * 1000:.0f} ms (median of {c['repetitions']})"
        rows.append(("cold start: import boto3", figure, "", ""))
        for name, entry in c["targets"].items():
            if name == "import boto3":
                continue
            target = f"<= {cold_start.TARGET_RATIO}" if "meets_target" in entry else ""
            figure = f"{entry['ratio_to_import_boto3']:.2f}x ({entry['seconds']['median'] * 1000:.0f} ms)"
            if entry.get("ratio_to_reference") is not None and entry["reference"] != cold_start.BASELINE:
                figure += f"; {entry['ratio_to_reference']:.2f}x of {entry['reference']}"
            rows.append((f"cold start: {name}", figure, target, _mark(entry.get("meets_target"))))
    if "warm_start" in results:
        w = results["warm_start"]
        n = w["repetitions"]
        for kind in ("cold", "warm"):
            rows.append(
                (
                    f"warm start: {kind} run, training jobs to within 2% of the cold best",
                    f"{w[f'{kind}_jobs_to_target']['median']:g} (median of {n} seeds)",
                    "",
                    "",
                )
            )
    return rows


def _memory_figure(memory: dict[str, Any]) -> str:
    text = f"RSS +{memory['rss_growth_mib']:.1f} MiB"
    if memory.get("tracemalloc_peak_mib") is not None:
        text += f", tracemalloc peak {memory['tracemalloc_peak_mib']:.1f} MiB"
    rate = memory.get("untraced_rows_per_second_moto_server")
    if rate:
        text += f"; {rate:,} rows/s with moto's server (1 run)"
    return text


def format_table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    header = ("measure", "figure", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines.extend(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]
    # The handlers log every data set at INFO, the engine every task failure: not benchmark output.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    started = time.monotonic()
    results = run_sections(sections, args.quick, log)
    document: dict[str, Any] = {}
    if args.only and args.output.exists():
        # A partial run keeps the other sections of the file it updates.
        try:
            document = json.loads(args.output.read_text(encoding="utf-8"))
        except ValueError:
            document = {}
    document.update(results)
    document["run"] = {
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "quick": args.quick,
        "sections": sections,
        "seconds": round(time.monotonic() - started, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(format_table(table_rows(results)))
    print(f"\nfigures written to {args.output} ({document['run']['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
