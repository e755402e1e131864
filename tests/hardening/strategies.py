"""Hypothesis strategies for bad events: arbitrary JSON, deep nesting, and mutations of the real events.

Pure random JSON rarely gets past a handler's first type check; mutating a real event (replace, delete or
insert at a random path, one to three times) keeps most of the event valid, so the mutation reaches the
code behind the first checks. Every value is one a Lambda runtime can hand a handler: JSON, no NaN or
infinity, no lone surrogate, nesting no deeper than ``json.loads`` accepts.
"""

from __future__ import annotations

import copy
import json
import pathlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

Path = tuple[str | int, ...]

# Numbers at the edges of what code tends to assume: 32/64-bit limits, huge, negative, fractional.
EDGE_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    2**63,
    -(2**63) - 1,
    10**300,
    -(10**300),
    0.5,
    -0.0,
    1e-320,  # subnormal
    1.7976931348623157e308,
    -1.7976931348623157e308,
    99.99999999999999,
    100.00000000000001,
]
EDGE_TEXT: list[str] = [
    "",
    " ",
    "\n",
    "\x00",
    "null",
    "true",
    "1e400",
    "NaN",
    "-1",
    "ünïcødé-名前-🚀",
    "\u202e\u200b",  # right-to-left override, zero-width space
    "a" * 1000,
    "arn:aws:sagemaker:us-east-1:123456789012:model/",
    "s3://",
]

# Integers of up to 4,300 digits, the most json.loads (int()) converts by default: beyond float's range.
huge_integers = st.integers(min_value=300, max_value=4299).map(lambda digits: -(10**digits) + 7)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_NUMBERS),
    huge_integers,
    huge_integers.map(abs),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(EDGE_TEXT),
)

json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any, as_object: bool) -> Any:
    """``depth`` levels of lists (or single-key objects) around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = {"x": value} if as_object else [value]
    return value


# Deeper than any real event, still parseable: json.loads refuses somewhat below 10,000 levels.
MAX_DEPTH = 5_000
deep_values = st.builds(nested, st.integers(min_value=50, max_value=MAX_DEPTH), json_scalars, st.booleans())

any_value = st.one_of(json_values, deep_values)


def paths(value: Any, max_depth: int = 12) -> Iterator[Path]:
    """The paths into a JSON value down to ``max_depth``, the root included (iterative: values may be
    nested thousands deep)."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path
        if len(path) >= max_depth:
            continue
        if isinstance(node, Mapping):
            stack.extend(((*path, key), child) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, index), child) for index, child in enumerate(node))


def get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _perturbations(original: Any) -> st.SearchStrategy[Any]:
    """Values close to ``original``: the same data with its type changed, an edge of its range, a typo."""
    options: list[st.SearchStrategy[Any]] = [
        st.just([original]),
        st.just({"value": original}),
        st.just(json.dumps(original) if not isinstance(original, str) else original + original),
    ]
    if isinstance(original, bool):
        options.append(st.sampled_from([int(original), str(original).lower(), None]))
    elif isinstance(original, (int, float)):
        near = [str(original), -original, original * 10**6]
        if abs(original) < 1e300:
            near += [original / 3, original * 1.0, original + 0.5]
        options += [st.sampled_from(near), st.sampled_from(EDGE_NUMBERS)]
    elif isinstance(original, str):
        options += [
            st.builds(
                _edit_text, st.just(original), st.integers(0, max(0, len(original))), st.text(max_size=3)
            ),
            st.sampled_from([original.upper(), original.strip("-"), original[: len(original) // 2], ""]),
        ]
    elif isinstance(original, (list, dict)):
        options.append(st.sampled_from([[], {}, None]))
    return st.one_of(*options)


def _edit_text(text: str, index: int, insert: str) -> str:
    """Replaces one character of ``text`` (or appends) with ``insert``."""
    return text[:index] + insert + text[index + 1 :]


@st.composite
def mutated(draw: st.DrawFn, base: Any, max_mutations: int = 3) -> Any:
    """``base`` with one to ``max_mutations`` random edits: replace, delete or insert at a random path."""
    event = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=max_mutations))):
        path = draw(st.sampled_from(list(paths(event))))
        container = get(event, path[:-1]) if path else None
        operation = draw(st.sampled_from(["replace", "perturb", "delete", "insert"]))
        if operation == "insert":
            target = get(event, path)
            if isinstance(target, dict):
                key = draw(st.one_of(st.text(max_size=12), st.sampled_from(sorted(map(str, target)) or [""])))
                target[key + draw(st.sampled_from(["", "_", "X"]))] = draw(any_value)
                continue
            if isinstance(target, list):
                target.insert(draw(st.integers(0, len(target))), draw(any_value))
                continue
            operation = "replace"
        if operation == "delete" and container is not None:
            del container[path[-1]]
            continue
        replacement = draw(_perturbations(get(event, path)) if operation == "perturb" else any_value)
        if container is None:
            event = replacement
        else:
            container[path[-1]] = replacement
    return event


def events_from(bases: Sequence[Any], *extras: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mutations of the real events, arbitrary JSON, deep nesting, and the caller's own ``extras``
    (focused mutations of the part of the event a handler reads, generators of valid events)."""
    mutations = st.sampled_from(bases).flatmap(mutated)
    return st.one_of(mutations, any_value, *extras)


def focused(base: Mapping[str, Any], key: str) -> st.SearchStrategy[Any]:
    """``base`` with only ``base[key]`` mutated: most of the event stays valid, so the edit goes deep."""
    return mutated(base[key]).map(lambda value: {**base, key: value})


def named_exceptions(module: Any) -> tuple[type[BaseException], ...]:
    """The exception classes of a handler (its named errors): those defined by its module and by the
    function's modules beside it that are loaded (functions/generate_dataset/own_data.py...)."""
    home = pathlib.Path(module.__file__).resolve().parent

    def beside(loaded: Any) -> bool:
        source = getattr(loaded, "__file__", None)
        return source is not None and pathlib.Path(source).resolve().parent == home

    modules = [module, *(loaded for loaded in list(sys.modules.values()) if beside(loaded))]
    found = {
        value: None
        for loaded in modules
        for value in vars(loaded).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and beside(sys.modules.get(value.__module__))
    }
    return tuple(found)


def outcome(
    call: Callable[[], Any], named: tuple[type[BaseException], ...]
) -> tuple[Any, BaseException | None]:
    """Runs ``call``: (result, None) or (None, the named error); any other exception fails the test."""
    try:
        return call(), None
    except named as error:
        message = str(error)
        assert message.strip(), f"{type(error).__name__} has an empty message"
        return None, error
    except Exception as error:  # the property under test: nothing else may escape
        raise AssertionError(
            f"{type(error).__module__}.{type(error).__name__} escaped the handler "
            f"(named errors: {', '.join(e.__name__ for e in named)}): {str(error)[:300]}"
        ) from error


def assert_json_output(result: Any) -> None:
    """A handler's result must serialise as strict JSON: Step Functions parses it."""
    assert isinstance(result, dict), type(result)
    json.dumps(result, allow_nan=False)
