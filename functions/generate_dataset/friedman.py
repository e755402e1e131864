"""The Friedman #1 regression data, as CSV bytes in the built-in XGBoost format (no header, label first).

``y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + N(0, noise^2)`` over ten features uniform on
[0, 1), five of them informative. The features lie on a grid of millionths and are written "0.dddddd" (as
"%.6f" writes a number of [0, 1)): the file holds exactly the features the target is computed from.

Python's per-value work is what limits the rows a second, so a batch of rows is made with as little of it as
possible:
- the five informative features are drawn as integer millionths (the target needs their values) and turned
  into digits by one %-format of the batch;
- the five uninformative ones are random digits straight away: random bytes from the seeded generator, those
  under 250 kept and mapped to their last decimal digit (uniform: 0-249 holds each digit 25 times), all by
  bytes.translate in C;
- the digits are laid into a template of the batch's lines by strided slice assignment, one column of digits
  at a time (none a row).
"""

from __future__ import annotations

import math
import random
from typing import Any

N_FEATURES = 10
INFORMATIVE_FEATURES = 5
BATCH_ROWS = 1_000
DECIMALS = 6
FEATURE_SCALE = 10**DECIMALS
_FIELD_WIDTH = DECIMALS + 3  # "0.dddddd" and its comma (the newline, for the last field)
_LINE_WIDTH = N_FEATURES * _FIELD_WIDTH
_FEATURE_LINES = ((",".join(["0." + "0" * DECIMALS] * N_FEATURES) + "\n") * BATCH_ROWS).encode("ascii")
_DIGIT_OF_BYTE = bytes((ord("0") + b % 10) if b < 250 else 0 for b in range(256))
_BIASED_BYTES = bytes(range(250, 256))
_INFORMATIVE_DIGITS_FMT = "%0" + str(DECIMALS) + "d"
LABEL_LINE_FMT = b"%.6f\n"
_LABELLED_LINE_FMT = b"%.6f,%s\n"
# A label "%.6f" of magnitude below 10,000 (the noiseless target is within [0, 30]; noise at most 100 standard
# deviations of 100 would be needed to pass it): sign, four digits, point, six decimals, comma.
_MAX_LABEL_FIELD = 1 + 4 + 1 + DECIMALS + 1
# The longest line of a training or validation file, for sizing the training volume.
MAX_LABELLED_LINE_BYTES = _MAX_LABEL_FIELD + _LINE_WIDTH


def random_digits(rng: random.Random, count: int) -> bytearray:
    """``count`` uniform random ASCII decimal digits from ``rng`` (deterministic for its state)."""
    digits = bytearray()
    while len(digits) < count:
        missing = count - len(digits)
        # 6 bytes in 256 are dropped: ask for about 3% more, so one round is nearly always enough.
        digits += rng.randbytes(missing + missing // 32 + 16).translate(_DIGIT_OF_BYTE, _BIASED_BYTES)
    del digits[count:]
    return digits


def friedman1_batch(count: int, rng: random.Random, noise: float) -> tuple[list[float], bytearray, float]:
    """``count`` rows (at most ``BATCH_ROWS``): the noisy labels, the features as CSV lines, and the sum of
    the squared noise ((label - noiseless target) ** 2, for the noise floor).

    The noise is N(0, noise**2), drawn by the Box-Muller transform as ``random.gauss`` draws it, two rows
    at a time, without its call per row.
    """
    if not 0 <= count <= BATCH_ROWS:
        raise ValueError(f"a batch is 0 to {BATCH_ROWS} rows, not {count}")
    u, sin = rng.random, math.sin
    if noise > 0:
        cos, log, sqrt, tau = math.cos, math.log, math.sqrt, 2.0 * math.pi
        zs: list[float] = []
        for _ in range((count + 1) // 2):
            radius = noise * sqrt(-2.0 * log(1.0 - u()))
            angle = tau * u()
            zs += (radius * cos(angle), radius * sin(angle))
        del zs[count:]
    else:
        zs = [0.0] * count
    scale = FEATURE_SCALE
    pi_scaled = math.pi / scale**2
    labels: list[float] = []
    informative: list[int] = []
    add_label, add_features = labels.append, informative.extend
    for z in zs:
        # The draws written out: measured faster than a comprehension.
        k0, k1, k2, k3, k4 = (
            int(u() * scale),
            int(u() * scale),
            int(u() * scale),
            int(u() * scale),
            int(u() * scale),
        )
        centred = k2 / scale - 0.5
        add_label(
            10.0 * sin(pi_scaled * k0 * k1) + 20.0 * centred * centred + (10.0 * k3 + 5.0 * k4) / scale + z
        )
        add_features((k0, k1, k2, k3, k4))
    columns = (
        ((_INFORMATIVE_DIGITS_FMT * len(informative)) % tuple(informative)).encode("ascii"),
        random_digits(rng, (N_FEATURES - INFORMATIVE_FEATURES) * DECIMALS * count),
    )
    lines = bytearray(_FEATURE_LINES[: count * _LINE_WIDTH])
    row_digits = INFORMATIVE_FEATURES * DECIMALS  # per row, in each of the two digit strings
    for feature in range(N_FEATURES):
        digits = columns[feature >= INFORMATIVE_FEATURES]
        first = (feature % INFORMATIVE_FEATURES) * DECIMALS
        for place in range(DECIMALS):
            lines[feature * _FIELD_WIDTH + 2 + place :: _LINE_WIDTH] = digits[first + place :: row_digits]
    return labels, lines, math.sumprod(zs, zs)


def labelled_lines(labels: list[float], feature_lines: bytes | bytearray) -> bytes:
    """The rows as the training files hold them: label first, then the features (``friedman1_batch``)."""
    lines = feature_lines.split(b"\n")
    lines.pop()  # after the last newline
    values: list[Any] = [None] * (2 * len(labels))
    values[::2], values[1::2] = labels, lines
    return (_LABELLED_LINE_FMT * len(labels)) % tuple(values)


def label_lines(labels: list[float]) -> bytes:
    """The labels alone, one a line (the test labels beside the batch transform's input)."""
    return (LABEL_LINE_FMT * len(labels)) % tuple(labels)
