"""The trailing ``&``: a statement whose last token is the operator ``&`` starts a job.

A cleanup transform (it runs before IPython's own, so ``!cmd &`` is still raw): pure,
token based, and tolerant of incomplete input, since terminal IPython runs it to decide
whether a cell is complete. It only rewrites; the call it writes does the work:

    x = slow() &         ->  x = __ipyjobs_background__('slow()', locals(), bound=True)
    slow() &             ->  __ipyjobs_background__('slow()', locals())
    for f in fs: g(f) &  ->  for f in fs: __ipyjobs_background__('g(f)', locals(), statement=True)
    !sleep 1 &           ->  __ipyjobs_background__('!sleep 1', locals(), statement=True)

An ``&`` inside a string, a comment, a bracket or backslash continuation, or a binary
expression (``a & b``) is left alone.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass

CALL = "__ipyjobs_background__"
_COMPOUND = frozenset(
    {"for", "while", "if", "elif", "else", "with", "try", "except", "finally", "async"}
)
_STATEMENT_KEYWORDS = frozenset(
    {
        "import",
        "from",
        "del",
        "pass",
        "raise",
        "return",
        "global",
        "nonlocal",
        "assert",
        "break",
        "continue",
        "yield",
    }
)
_AUGMENTED = frozenset(
    {"+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=", "&=", "|=", "^=", ">>=", "<<=", ":="}
)
_SHELL_LINE = re.compile(r"^(?P<indent>[ \t]*)!(?!!)(?P<command>.*?)[ \t]*&[ \t]*$")
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class Background:
    """One ``&`` statement found in a cell: offsets into the cell, and what it runs."""

    start: int  # where the backgrounded statement starts
    end: int  # just after its `&`
    targets: str | None  # "x" for `x = expr &`, else None
    source: str  # the code the job runs, without `&` ("" if the `&` cannot be a job)
    statement: bool  # not a bare expression: the line shows no value


def find_backgrounds(cell: str) -> list[Background]:
    """Every trailing-``&`` statement of ``cell`` (none if it does not tokenize)."""
    found: list[Background] = []
    lines = cell.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    code_lines = list(lines)
    for number, line in enumerate(lines):
        shell = _SHELL_LINE.match(line.rstrip("\r\n"))
        if shell:
            start = offsets[number] + len(shell["indent"])
            end = offsets[number] + len(line.rstrip("\r\n"))
            found.append(Background(start, end, None, f"!{shell['command']}", True))
            code_lines[number] = shell["indent"] + "pass\n"  # keep the tokenizer happy
        elif line.lstrip().startswith(("!", "%", "?")) or line.rstrip().endswith("?"):
            code_lines[number] = "\n"  # other IPython syntax: not ours to read
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("".join(code_lines)).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return sorted(found, key=lambda b: b.start)

    def at(position: tuple[int, int]) -> int:
        return offsets[position[0] - 1] + position[1]

    for logical in _logical_lines(tokens):
        background = _background_of(logical, cell, at)
        if background is not None:
            found.append(background)
    return sorted(found, key=lambda b: b.start)


def _logical_lines(tokens: list[tokenize.TokenInfo]) -> list[list[tokenize.TokenInfo]]:
    skip = {
        tokenize.NL,
        tokenize.COMMENT,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
        tokenize.ENDMARKER,
    }
    logical: list[list[tokenize.TokenInfo]] = [[]]
    for token in tokens:
        if token.type == tokenize.NEWLINE:
            logical.append([])
        elif token.type not in skip:
            logical[-1].append(token)
    return [line for line in logical if line]


def _background_of(
    tokens: list[tokenize.TokenInfo], cell: str, at: Callable[[tuple[int, int]], int]
) -> Background | None:
    last = tokens[-1]
    if not (last.type == tokenize.OP and last.string == "&"):
        return None
    body = _simple_statement(tokens[:-1])
    amp, end = at(last.start), at(last.end)
    if not body:
        return Background(amp, end, None, "", True)  # `&` alone, or `x; &`
    start = at(body[0].start)
    depth, split = 0, None
    for token in body:
        if token.type == tokenize.OP and token.string in _OPEN:
            depth += 1
        elif token.type == tokenize.OP and token.string in _CLOSE:
            depth -= 1
        elif token.type == tokenize.OP and token.string == "=" and depth == 0:
            split = token  # the last `=`: `a = b = f() &` gives the job to a and b
    if split is not None:
        targets = cell[start : at(split.start)].rstrip()
        source = cell[at(split.end) : amp].strip()
        return Background(start, end, targets, source, not source)
    keyword = body[0].type == tokenize.NAME and body[0].string in _STATEMENT_KEYWORDS
    augmented = any(t.type == tokenize.OP and t.string in _AUGMENTED for t in body)
    return Background(start, end, None, cell[start:amp].rstrip(), keyword or augmented)


def _simple_statement(tokens: list[tokenize.TokenInfo]) -> list[tokenize.TokenInfo]:
    """The last simple statement of a logical line: after a compound header's colon and
    after the last `;`."""
    if not tokens:
        return []
    depth, start = 0, 0
    compound = tokens[0].type == tokenize.NAME and tokens[0].string in _COMPOUND
    for index, token in enumerate(tokens):
        if token.type != tokenize.OP:
            continue
        if token.string in _OPEN:
            depth += 1
        elif token.string in _CLOSE:
            depth -= 1
        elif depth == 0 and token.string == ";":
            start = index + 1
        elif depth == 0 and token.string == ":" and compound:
            start, compound = index + 1, False
    return tokens[start:]


def transform_ampersand(lines: list[str]) -> list[str]:
    """The cleanup transform registered with IPython: rewrite each ``&`` statement. A
    statement spread over several lines keeps its line count (blank lines follow)."""
    cell = "".join(lines)
    if "&" not in cell:
        return lines
    backgrounds = find_backgrounds(cell)
    if not backgrounds:
        return lines
    pieces, done = [], 0
    for bg in backgrounds:
        flags = ", statement=True" if bg.statement else ""
        if bg.targets is not None:
            flags += ", bound=True"
        call = f"{CALL}({bg.source!r}, locals(){flags})"
        if bg.targets is not None:
            call = f"{bg.targets} = {call}"
        rest_of_line = cell.find("\n", bg.end)
        rest_of_line = len(cell) if rest_of_line < 0 else rest_of_line
        pieces += [cell[done : bg.start], call, "\n" * cell.count("\n", bg.start, bg.end)]
        done = rest_of_line  # a comment after the `&` goes with it
    pieces.append(cell[done:])
    return "".join(pieces).splitlines(keepends=True)
