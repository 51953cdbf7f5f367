"""How a batch's stages are written in Python."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple, Union

from .processors import Processor, ProcessorFunction

# A processor as a stage names it: a registered or plugin name ("text",
# "exec"), a path to a plugin file, or a Python processor.
ProcessorSpec = Union[str, "os.PathLike[str]", Processor, ProcessorFunction]

# What `stages=[...]` accepts: a processor, (processor, options),
# (processor, options, label), or a Stage.
StageSpec = Union[ProcessorSpec, Tuple[ProcessorSpec, Mapping[str, Any]],
                  Tuple[ProcessorSpec, Mapping[str, Any], Optional[str]], "Stage"]


@dataclass(frozen=True)
class Stage:
    """One stage: a processor, its options, and an optional label (default: the processor's name)."""

    processor: ProcessorSpec
    options: Mapping[str, Any] = field(default_factory=dict)
    label: Optional[str] = None

    @classmethod
    def of(cls, spec: StageSpec) -> "Stage":
        if isinstance(spec, Stage):
            return spec
        if isinstance(spec, tuple):
            if not 1 <= len(spec) <= 3:
                raise TypeError(f"a stage tuple is (processor, options[, label]), not {spec!r}")
            return cls(*spec)
        return cls(spec)
