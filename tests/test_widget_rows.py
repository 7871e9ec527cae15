"""Widgets without a kernel: rows per child, stable text, and buttons on removed jobs."""

from __future__ import annotations

import ipyjobs
from ipyjobs import Job, JobState
from ipyjobs.ipython.widget_hub import hub
from ipyjobs.ipython.widgets import JobWidget


def fan_out() -> Job:
    parent = Job(1, job_type="RemoteJob", command="fit()", location="engine0, engine1")
    for n in range(2):
        Job(2 + n, job_type="RemoteJob", command="fit()", location=f"engine{n}", parent=parent)
    return parent


def test_a_fan_out_job_shows_one_row_per_child(manager):
    parent = fan_out()
    parent.child_jobs[0].set_state(JobState.RUNNING)
    parent.child_jobs[1].set_state(JobState.RUNNING)
    parent.child_jobs[1].set_state(JobState.FAILED, RuntimeError("engine lost"))
    widget = JobWidget(parent, manager)
    try:
        rows = widget.panel.view.split("<tr>")[2:]  # after the header row
        assert [("engine0" in r, "engine1" in r) for r in rows] == [
            (True, True),
            (True, False),
            (False, True),
        ]
        assert ">Running<" in rows[0] and ">Running<" in rows[1] and ">Failed<" in rows[2]
        assert repr(widget).splitlines()[2].split() == [
            "1",
            "Job1",
            "RemoteJob",
            "engine0,",
            "engine1",
            "fit()",
        ]
    finally:
        hub(manager).stop()
        widget.close()


def test_buttons_on_a_removed_job_say_so_and_raise_nothing(manager):
    job = ipyjobs.start_job(len, "abc")
    job.wait(5)
    widget = JobWidget(job, manager)
    try:
        ipyjobs.remove_job(job)
        for action in ("receive", "stop", "remove", "send"):
            assert "was removed" in widget.act({"action": action})
        widget.refresh()
        assert ">Removed<" in widget.panel.view and widget.panel.jobs[0]["removed"]
    finally:
        hub(manager).stop()
        widget.close()


def _luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_state_colours_are_readable_on_light_and_dark_themes():
    """JupyterLab's light theme shows widgets on white, its dark theme on #111 and #212121
    (--jp-layout-color0 and 1); 3:1 is WCAG's bar for bold text. Blocked has its own."""
    from ipyjobs.ipython.widget_html import STATE_COLOURS

    for state, colour in STATE_COLOURS.items():
        for background in ("#ffffff", "#111111", "#212121"):
            assert _contrast(colour, background) >= 3, (state, colour, background)
    others = {c for s, c in STATE_COLOURS.items() if s != "Blocked"}
    assert STATE_COLOURS["Blocked"] not in others


def test_a_large_fan_out_is_a_summary_with_its_rows_folded(manager):
    job = ipyjobs.start_job(
        lambda i: 1 / (i % 250), each=range(1000), backend="thread"
    )  # items 0, 250, 500 and 750 fail
    assert job.wait(60)
    widget = JobWidget(job, manager)
    try:
        view = widget.panel.view
        assert "1000 children: " in view
        assert ">Completed<" in view.split("ipyjobs-summary")[1]
        assert "996" in view.split("ipyjobs-summary")[1] and "4 " in view
        folded = view.split("<details>")[1]
        assert folded.count("<tr>") <= 1 + 20  # its header and the children worth a look
        assert folded.count(">Failed<") == 4
        assert view.count("ipyjobs-reason") <= 5
        assert len(view) < 30_000  # cheap to send ten times a second
        assert widget.panel.progress == {"percent": 100, "label": "1000 of 1000 finished"}
    finally:
        hub(manager).stop()


def test_receive_shows_records_in_order_then_the_values_as_a_cell_would():
    from datetime import datetime

    from ipyjobs import Stream
    from ipyjobs.ipython.widget_actions import plain_format, received_outputs
    from ipyjobs.model.records import Record

    def record(stream, value, text=None):
        return Record(stream, value, None, "localhost", datetime.now(), text)

    records = [
        record(Stream.STDOUT, "a\n"),
        record(Stream.STDOUT, "b\n"),
        record(Stream.STDERR, "oops\n"),
        record(Stream.DISPLAY, {"data": {"text/html": "<b>x</b>"}, "metadata": {}}),
        record(Stream.PROGRESS, None),
        record(Stream.WARNING, UserWarning("careful"), "UserWarning: careful\n"),
        record(Stream.OUTPUT, 1),
        record(Stream.ERROR, ValueError("bad"), "Traceback...\nValueError: bad\n"),
        record(Stream.STDOUT, "c\n"),
        record(Stream.OUTPUT, 2),
    ]
    assert received_outputs(records, plain_format) == [
        {"output_type": "stream", "name": "stdout", "text": "a\nb\n"},
        {"output_type": "stream", "name": "stderr", "text": "oops\n"},
        {"output_type": "display_data", "data": {"text/html": "<b>x</b>"}, "metadata": {}},
        {
            "output_type": "stream",
            "name": "stderr",
            "text": "UserWarning: careful\nTraceback...\nValueError: bad\n",
        },
        {"output_type": "stream", "name": "stdout", "text": "c\n"},
        {"output_type": "display_data", "data": {"text/plain": "[1, 2]"}, "metadata": {}},
    ]
    one = received_outputs([record(Stream.OUTPUT, "x")], plain_format)
    assert one == [{"output_type": "display_data", "data": {"text/plain": "'x'"}, "metadata": {}}]
