"""The Friedman #1 generator: digits, features, noise and lines, with no S3 in sight."""

from __future__ import annotations

import math
import random

import friedman
import pytest

from tests.unit import dataset_support as support

# chi-square with 9 degrees of freedom: exceeded with probability 0.001 by uniform digits.
CHI2_9_P001 = 27.88


def _batches(rows: int, seed: int, noise: float) -> tuple[list[float], list[list[float]]]:
    rng = random.Random(seed)
    labels: list[float] = []
    features: list[list[float]] = []
    for start in range(0, rows, friedman.BATCH_ROWS):
        batch_labels, lines, _ = friedman.friedman1_batch(min(friedman.BATCH_ROWS, rows - start), rng, noise)
        labels += batch_labels
        features += [[float(v) for v in line.split(b",")] for line in lines.splitlines()]
    return labels, features


def _chi2(counts: list[int]) -> float:
    expected = sum(counts) / len(counts)
    return sum((c - expected) ** 2 / expected for c in counts)


def test_every_digit_of_every_feature_is_uniform() -> None:
    """Both ways of drawing features (integer millionths, random bytes mapped to digits) give uniform digits
    in every decimal place: a mapping of all 256 byte values to digits would favour 0-5 by 4 %."""
    _, features = _batches(20_000, seed=11, noise=1.0)
    texts = [[f"{x:.6f}"[2:] for x in row] for row in features]

    for feature in range(friedman.N_FEATURES):
        for place in range(friedman.DECIMALS):
            counts = [0] * 10
            for row in texts:
                counts[int(row[feature][place])] += 1
            assert _chi2(counts) < CHI2_9_P001, (feature, place, counts)
        mean = sum(row[feature] for row in features) / len(features)
        assert mean == pytest.approx(0.5, abs=5 * 0.2887 / math.sqrt(len(features)))


def test_features_of_a_row_are_not_correlated() -> None:
    _, features = _batches(20_000, seed=12, noise=1.0)
    n = len(features)
    limit = 5 / math.sqrt(n)  # five standard errors of a correlation of independent variables
    means = [sum(row[i] for row in features) / n for i in range(friedman.N_FEATURES)]
    sds = [
        math.sqrt(sum((row[i] - means[i]) ** 2 for row in features) / n) for i in range(friedman.N_FEATURES)
    ]
    for i in range(friedman.N_FEATURES):
        for j in range(i + 1, friedman.N_FEATURES):
            cov = sum((row[i] - means[i]) * (row[j] - means[j]) for row in features) / n
            assert abs(cov / (sds[i] * sds[j])) < limit, (i, j)


@pytest.mark.parametrize("noise", [1.0, 0.2, 7.5])
def test_noise_is_normal_with_the_asked_standard_deviation(noise: float) -> None:
    labels, features = _batches(20_001, seed=13, noise=noise)  # odd: the last pair is cut
    residuals = [label - support.friedman1(x) for label, x in zip(labels, features, strict=True)]
    n = len(residuals)
    mean = sum(residuals) / n
    sd = math.sqrt(sum((r - mean) ** 2 for r in residuals) / n)

    assert n == 20_001
    assert mean == pytest.approx(0, abs=5 * noise / math.sqrt(n))
    assert sd == pytest.approx(noise, rel=5 / math.sqrt(2 * n))
    # The share within one standard deviation of a normal distribution is 0.6827.
    within = sum(abs(r) < noise for r in residuals) / n
    assert within == pytest.approx(0.6827, abs=5 * math.sqrt(0.6827 * 0.3173 / n))


def test_batch_returns_the_squared_noise_of_its_rows() -> None:
    labels, lines, squared_noise = friedman.friedman1_batch(500, random.Random(4), 2.0)
    features = [[float(v) for v in line.split(b",")] for line in lines.splitlines()]

    recomputed = sum((y - support.friedman1(x)) ** 2 for y, x in zip(labels, features, strict=True))
    assert squared_noise == pytest.approx(recomputed, rel=1e-9)
    assert friedman.friedman1_batch(500, random.Random(4), 0.0)[2] == 0.0


@pytest.mark.parametrize("count", [-1, 1_001])
def test_batch_of_more_rows_than_its_template_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="a batch is 0 to 1000 rows"):
        friedman.friedman1_batch(count, random.Random(1), 1.0)


@pytest.mark.parametrize("count", [0, 1, 7, 250, 1_000_000])
def test_random_digits_are_digits_of_the_asked_count_and_reproducible(count: int) -> None:
    digits = friedman.random_digits(random.Random(5), count)

    assert len(digits) == count
    assert set(digits) <= set(b"0123456789")
    assert digits == friedman.random_digits(random.Random(5), count)
    if count >= 1_000_000:  # a mapping of all 256 byte values gives a chi-square of about 360
        assert _chi2([digits.count(d) for d in b"0123456789"]) < CHI2_9_P001


def test_labelled_lines_put_each_label_before_its_features() -> None:
    assert friedman.labelled_lines([1.5, -0.25], b"0.000001,0.5\n0.999999,0.25\n") == (
        b"1.500000,0.000001,0.5\n-0.250000,0.999999,0.25\n"
    )
    assert friedman.labelled_lines([], b"") == b""


def test_batch_of_no_rows_is_empty() -> None:
    labels, lines, squared_noise = friedman.friedman1_batch(0, random.Random(1), 1.0)

    assert (labels, bytes(lines), squared_noise) == ([], b"", 0)
