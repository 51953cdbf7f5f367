"""A Python processor as a ``python`` stage: run by ``python -m batchcore.worker``
children (isolation="process") instead of the host's threads.

A worker process imports the function by its module and qualified name, so
only functions defined at the top level of a module (or a script) can go
there; lambdas, closures and nested functions are refused with the reason.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, Optional

from .processors import Processor

PYTHON_PROCESSOR = "python"


def stage_options(proc: Processor, prepare: Optional[Callable[[], Any]]) -> Dict[str, str]:
    """The options of the ``python`` stage that runs `proc` (and `prepare`) in worker processes."""
    options = {"function": importable_name(proc.function, "processor"),
               "python": sys.executable,
               "path": os.pathsep.join(_search_path())}
    if prepare is not None:
        options["prepare"] = importable_name(prepare, "prepare function")
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file and "__main__:" in options["function"] + options.get("prepare", ""):
        options["main_file"] = os.path.abspath(main_file)
    return options


def importable_name(function: Any, what: str) -> str:
    """``module:qualname`` of `function`; TypeError saying why a worker could not import it."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    refused = f"isolation='process' runs the {what} {function!r} in worker processes, which import it by module and qualified name"
    if not module or not qualname:
        raise TypeError(f"{refused}, and it has none; use a function defined with def at the top level of a module")
    if "<lambda>" in qualname:
        raise TypeError(f"{refused}: a lambda has no name to import it by; define it with def at the top level of a module")
    if "<locals>" in qualname:
        raise TypeError(f"{refused}: {qualname} is defined inside another function (a closure or nested function), "
                        "so no import reaches it; move it to the top level of a module and pass settings "
                        "through the document's metadata or prepare=")
    if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
        raise TypeError(f"{refused}: it was defined in an interactive session; put it in a module or a script file")
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if isinstance(target, Processor):
        target = target.function
    if target is not function:
        raise TypeError(f"{refused}, and {module}:{qualname} names another object (was it redefined or wrapped?); "
                        "use the function the module defines under that name")
    return f"{module}:{qualname}"


def _search_path() -> list:
    """The host's sys.path, absolute, so workers import what the host imports."""
    return [os.path.abspath(entry or os.curdir) for entry in sys.path if isinstance(entry, str)]
