"""A real terminal IPython in a pty (pexpect), rendered by a terminal emulator (pyte),
so tests read the screen a person would see."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pyte

IPYTHON = str(Path(sys.executable).parent / "ipython")


class Terminal:
    def __init__(self, *args: str, rows: int = 40, columns: int = 120, env: dict | None = None):
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.Stream(self.screen)
        environment = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", **(env or {}))
        self.child = pexpect.spawn(
            IPYTHON,
            ["--no-banner", "--colors=NoColor", *args],
            env=environment,
            encoding="utf-8",
            dimensions=(rows, columns),
            timeout=30,
        )

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """Wait until the screen shows ``pattern`` (a regex); return the match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text(), re.MULTILINE)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"screen never showed {pattern!r}:\n{self.text()}")
            with contextlib.suppress(pexpect.TIMEOUT):  # nothing new yet
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.05))

    def prompt(self, number: int, timeout: float = 30.0) -> None:
        self.wait_for(rf"^In \[{number}\]: *$", timeout)

    def type(self, text: str) -> None:
        self.child.send(text)

    def run(self, line: str, next_prompt: int) -> None:
        self.child.send(line + "\r")
        self.prompt(next_prompt)

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendline("exit")
            try:
                self.child.expect(pexpect.EOF, timeout=10)
            except pexpect.TIMEOUT:
                self.child.terminate(force=True)
        self.child.close()
