"""The warm start benchmark at a tiny size: a cold and a warm run per seed, the jobs each needed to come
within 2% of the cold best, in the shape results.json records (structure and behaviour, never timings)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import run, warm_start

TINY_DATA = {"trainRows": 200, "validationRows": 40, "testRows": 40, "noise": 1.0}
THREE_JOBS = {"MaxTrainingJobs": "3", "MaxParallelTrainingJobs": "1"}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return warm_start.measure((7, 8), data=TINY_DATA, parameters=THREE_JOBS)


def test_each_seed_after_the_first_has_a_cold_and_a_warm_run_from_the_previous_cold_run(
    result: dict[str, Any],
) -> None:
    assert result["seeds"] == [7, 8] and result["repetitions"] == 1
    (repetition,) = result["runs"]
    cold, warm = repetition["cold"], repetition["warm"]
    assert cold["tuning_job"] != warm["tuning_job"]
    assert len(cold["objectives"]) == len(warm["objectives"]) == 3
    best = min(v for v in cold["objectives"] if v is not None)
    assert repetition["target"] == pytest.approx(best * 1.02, abs=1e-4)
    # The cold run reaches its own best by definition; the count is where it first did.
    assert cold["reached_target"] is True
    assert cold["jobs_to_target"] == warm_start.jobs_to_reach(cold["objectives"], repetition["target"])
    assert result["cold_jobs_to_target"]["values"] == [cold["jobs_to_target"]]
    assert result["warm_jobs_to_target"]["values"] == [warm["jobs_to_target"]]


def test_jobs_to_reach_counts_launched_jobs_until_the_best_so_far_is_within_the_target() -> None:
    assert warm_start.jobs_to_reach([3.0, None, 1.5, 1.0], 1.6) == 3
    assert warm_start.jobs_to_reach([1.0], 1.02) == 1
    assert warm_start.jobs_to_reach([None, 2.0], 1.0) is None


def test_one_seed_is_refused_it_would_make_only_a_parent() -> None:
    with pytest.raises(ValueError, match="two seeds at least"):
        warm_start.measure((1,))


def test_the_table_has_the_cold_and_the_warm_figure(result: dict[str, Any]) -> None:
    rows = run.table_rows({"warm_start": result})
    assert [row[0] for row in rows] == [
        "warm start: cold run, training jobs to within 2% of the cold best",
        "warm start: warm run, training jobs to within 2% of the cold best",
    ]
    assert rows[0][1].endswith("(median of 1 seeds)")
