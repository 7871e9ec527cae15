"""The trailing-& transformer on its own: pure, token based, table driven."""

from __future__ import annotations

import pytest

from ipyjobs.ipython.transformer import transform_ampersand


def transform(cell: str) -> str:
    return "".join(transform_ampersand(cell.splitlines(keepends=True)))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("x = slow() &\n", "x = __ipyjobs_background__('slow()', locals(), bound=True)\n"),
        ("j = 2 + 3 &", "j = __ipyjobs_background__('2 + 3', locals(), bound=True)"),
        ("slow() &\n", "__ipyjobs_background__('slow()', locals())\n"),
        ("x.attr = f() &\n", "x.attr = __ipyjobs_background__('f()', locals(), bound=True)\n"),
        ('d["k"] = f() &\n', "d[\"k\"] = __ipyjobs_background__('f()', locals(), bound=True)\n"),
        ("a = b = f() &\n", "a = b = __ipyjobs_background__('f()', locals(), bound=True)\n"),
        ("f(x=1) &\n", "__ipyjobs_background__('f(x=1)', locals())\n"),
        ("slow()&  # later\n", "__ipyjobs_background__('slow()', locals())\n"),
        (
            "for i in range(3): f(i) &\n",
            "for i in range(3): __ipyjobs_background__('f(i)', locals())\n",
        ),
        (
            "for f in files:\n    load(f) &\n",
            "for f in files:\n    __ipyjobs_background__('load(f)', locals())\n",
        ),
        ("a = 1; b() &\n", "a = 1; __ipyjobs_background__('b()', locals())\n"),
        ("import os &\n", "__ipyjobs_background__('import os', locals(), statement=True)\n"),
        ("n += f() &\n", "__ipyjobs_background__('n += f()', locals(), statement=True)\n"),
        ("!sleep 1 &\n", "__ipyjobs_background__('!sleep 1', locals(), statement=True)\n"),
        (
            "  !echo 'a b' &\n",
            "  __ipyjobs_background__(\"!echo 'a b'\", locals(), statement=True)\n",
        ),
        (
            "r = fit(model,\n        data) &  # two lines\nnext()\n",
            "r = __ipyjobs_background__('fit(model,\\n        data)', locals(), bound=True)\n"
            "\nnext()\n",
        ),
        ("greet(undefined) &\n", "__ipyjobs_background__('greet(undefined)', locals())\n"),
    ],
)
def test_trailing_ampersand_starts_a_job(cell, expected):
    assert transform(cell) == expected


@pytest.mark.parametrize(
    "cell",
    [
        'print("a &")\n',
        "x = 1  # a &\n",
        "a & b\n",
        "(a &\n b)\n",
        "a & \\\n  b\n",
        "x = a & b\n",
        "f(a &\n",  # incomplete: the terminal asks for more, nothing is rewritten
        "%time f() & g()\n",
        "!echo a & echo b\n",
        "s = '''\nslow() &\n'''\n",
        "def f(:\n",  # does not tokenize: left for Python to report
    ],
)
def test_other_ampersands_are_left_alone(cell):
    assert transform(cell) == cell


@pytest.mark.parametrize("cell", ["&\n", "x = &\n", "x = 1; &\n"])
def test_an_ampersand_that_cannot_be_a_job_becomes_a_call_that_says_so(cell):
    assert "__ipyjobs_background__(''" in transform(cell)


def test_the_transformer_is_pure():
    cell = "x = slow() &\nfor i in range(2): f(i) &\n"
    first = transform(cell)
    assert transform(cell) == first  # same input, same output, nothing else happens
    assert transform(first) == first  # and it leaves its own output alone
