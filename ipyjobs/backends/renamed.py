"""Unpickling what an earlier ipyjobs wrote: before the package was laid out in layers
(DESIGN §11), ``ipyjobs.records``, ``ipyjobs.state`` and ``ipyjobs.errors`` stood at its
top, and a spool written then names its values' classes there (``Stream``, ``JobState``,
``JobStateError``). As ``pickle`` maps Python 2's module names, this maps those."""

from __future__ import annotations

import io
import pickle
from typing import Any

#: Where each module that held a class before the layout lives now.
RENAMED = {
    "ipyjobs.errors": "ipyjobs.model.errors",
    "ipyjobs.state": "ipyjobs.model.state",
    "ipyjobs.records": "ipyjobs.model.records",
    "ipyjobs.job": "ipyjobs.model.job",
    "ipyjobs.execution": "ipyjobs.execution.work",
    "ipyjobs.inside": "ipyjobs.execution.inside",
    "ipyjobs.store": "ipyjobs.backends.store",
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(RENAMED.get(module, module), name)


def loads(data: bytes) -> Any:
    """``pickle.loads``, finding classes an earlier version pickled where they are now."""
    return _Unpickler(io.BytesIO(data)).load()
