"""The host: what ipyjobs takes from the shell it runs in, as one small object.

The manager, the backends and the execution layer never import IPython or the front end:
they ask a ``Host`` for the user namespace code strings run in, the transform of IPython
syntax into Python, the display publisher that ``display()`` inside a job goes through,
the names the shell gives its cells in tracebacks (``Cell In[5]``), and how to show a
display or a value. ``Host`` itself is plain Python (``__main__``'s namespace, no
transform, displays shown as their text); the IPython front end gives a host that follows
the running shell, and the package puts it in place as the default (``set_default``), so
that a manager made before, or without, ``%load_ext`` still runs cells as cells.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


class Host:
    """Plain Python: code strings run in ``__main__``, displays print their text."""

    #: The Configurable a JobManager takes its configuration from (the shell), or None.
    config_parent: Any = None

    def user_namespace(self) -> dict[str, Any]:
        """Where code strings run (and what ``stmt &`` snapshots)."""
        return sys.modules["__main__"].__dict__

    def transform(self, source: str) -> str:
        """The Python that IPython code means (``%magic``, ``!cmd``); here, the code."""
        return source

    def display_publisher(self) -> Any:
        """The object whose ``publish`` a job's ``display()`` goes through, or None."""
        return None

    def cell_name(self, filename: str) -> str | None:
        """The name a traceback shows for a file the shell compiled a cell into."""
        return None

    def profile_dir(self) -> str:
        """The IPython profile folder (where the job store lives by default): the
        shell's, else IPython's default one (``IPYTHONDIR``, else ``~/.ipython``)."""
        base = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
        return os.path.join(base, "profile_default")

    def show_display(self, bundle: dict[str, Any]) -> None:
        """Show a recorded display (``{"data": ..., "metadata": ...}``) where the
        receiver is."""
        print(bundle["data"].get("text/plain", ""))

    def show_value(self, value: Any) -> None:
        """Show a value (``write_output`` outside a job)."""
        print(repr(value))


PLAIN = Host()
_default: Callable[[], Host] = lambda: PLAIN  # noqa: E731


def set_default(factory: Callable[[], Host]) -> None:
    """Make ``factory()`` the host of managers made without one."""
    global _default
    _default = factory


def default() -> Host:
    """The host a manager gets when it is given none."""
    return _default()
