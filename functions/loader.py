"""Loads a function's handler as the Lambda runtime does: the one loader of tests, bench and offline engine.

The runtime puts the deployment package (the function's folder, its ``CodeUri``) first on ``sys.path`` and
imports the handler's module, so a handler imports the modules beside it by their plain names (``import
own_data``). This does the same, and imports the handler's module afresh under a name of its own each time
(every function's handler is ``app``), so its clients are created inside whatever mock is active. The
modules beside a handler are imported once, by their plain names: they must not repeat across functions
(tests/unit/test_loader.py checks).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from types import ModuleType

FUNCTIONS_DIR = Path(__file__).resolve().parent
_ids = itertools.count()


class HandlerNotFound(ImportError):
    """The handler's module is not in the function's folder."""


def load_handler(code_dir: str | Path, handler: str = "app.lambda_handler") -> ModuleType:
    """The handler's module of the function in ``code_dir`` (a folder, or a name under functions/),
    imported now. ``handler`` is the template's ``Handler`` (``module.function``)."""
    code_dir = Path(code_dir)
    if not code_dir.is_absolute() and len(code_dir.parts) == 1:
        code_dir = FUNCTIONS_DIR / code_dir
    module_file, _, _ = handler.rpartition(".")
    path = code_dir / f"{module_file.replace('.', '/')}.py"
    if not path.is_file():
        raise HandlerNotFound(f"handler {handler} needs {path}, which is missing")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    name = f"_handler_{code_dir.name}_{next(_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while a class is created
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def unload(module: ModuleType) -> None:
    """Forgets a module ``load_handler`` imported (the modules beside it stay, as in a warm runtime)."""
    sys.modules.pop(module.__name__, None)
