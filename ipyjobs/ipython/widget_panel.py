"""The part of a job widget that answers while the notebook is busy (DESIGN §12).

An anywidget model whose front end (``widget_front.js``) shows the kernel-rendered view and
the buttons, and sends each click over a comm it opens itself (``control_channel``), or, in
a front end that cannot open one, as a custom message on this model's comm. The model
carries what the front end needs and nothing that varies only to be shown: ``view`` (the
HTML of rows, failures and the tail), ``progress``, and ``jobs``, each shown job's id, name,
state, reason and prompt for the buttons, the Send field and the bell.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from . import control_channel

_HERE = Path(__file__).resolve().parent


class JobPanel(anywidget.AnyWidget):
    """The live view and controls of a job (``kind="job"``) or of the jobs table
    (``kind="table"``). ``actor`` is the widget that acts on a click (it has ``act``)."""

    _esm = (_HERE / "widget_front.js").read_text(encoding="utf-8")
    _css = (_HERE / "widget_front.css").read_text(encoding="utf-8")

    key = t.Unicode().tag(sync=True)
    kind = t.Unicode("job").tag(sync=True)
    view = t.Unicode().tag(sync=True)
    progress = t.Dict().tag(sync=True)  # {percent, label}, or {} before any progress
    jobs = t.List(t.Dict()).tag(sync=True)

    def __init__(self, actor: control_channel.Actor, **kwargs: Any) -> None:
        super().__init__(key=uuid.uuid4().hex, **kwargs)
        control_channel.register(self.key, actor)
        self.on_msg(self._clicked_without_channel)

    def _clicked_without_channel(self, _: Any, content: Any, buffers: Any) -> None:
        """A click from a front end that could not open the control channel."""
        if isinstance(content, dict):
            self.send(control_channel.answer(content))
