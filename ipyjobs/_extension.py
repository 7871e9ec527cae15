"""The one place that touches the IPython shell."""

from __future__ import annotations

import sys
from typing import Any


def current_shell() -> Any | None:
    """The running InteractiveShell (terminal or kernel), or None in plain Python."""
    if "IPython" not in sys.modules:
        return None  # nobody started a shell without importing IPython
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance() if InteractiveShell.initialized() else None


def user_namespace() -> dict[str, Any]:
    """Where code strings run: the shell's user namespace, else ``__main__``'s."""
    shell = current_shell()
    if shell is not None:
        return shell.user_ns
    return sys.modules["__main__"].__dict__
