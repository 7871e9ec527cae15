"""Terminal IPython: bash-style notices (``[1] Completed  Job1  slow()``) when jobs end."""

from __future__ import annotations

from typing import Any


class Notices:
    def __init__(self, shell: Any, manager: Any) -> None:
        self.shell = shell
        self.manager = manager

    def detach(self) -> None:
        pass


def attach(shell: Any, manager: Any) -> Notices:
    return Notices(shell, manager)
