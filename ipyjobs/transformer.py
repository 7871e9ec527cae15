"""The trailing ``&``: a statement whose last token is the operator ``&`` starts a job.

A cleanup transform (it runs before IPython's own, so ``!cmd &`` is still raw): pure,
token based, and tolerant of incomplete input, since terminal IPython runs it to decide
whether a cell is complete. It only rewrites; the call it writes does the work:

    x = slow() &         ->  x = __ipyjobs_background__('slow()', locals())
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
    """One ``&`` statement found in a cell (0-based physical line, columns)."""

    line: int
    start: int  # column where the backgrounded statement starts
    amp: int  # column of the `&`
    targets: str | None  # "x" for `x = expr &`, else None
    source: str  # the code the job runs, without `&`
    statement: bool  # not a bare expression: the line shows no value


def find_backgrounds(cell: str) -> list[Background]:
    """Every trailing-``&`` statement of ``cell`` (empty if it does not tokenize)."""
    found: list[Background] = []
    lines = cell.splitlines(keepends=True)
    code_lines = list(lines)
    for number, line in enumerate(lines):
        shell = _SHELL_LINE.match(line.rstrip("\r\n"))
        if shell:
            command = shell["command"]
            found.append(
                Background(
                    number,
                    len(shell["indent"]),
                    len(line.rstrip("\r\n")) - 1,
                    None,
                    f"!{command}",
                    True,
                )
            )
            code_lines[number] = shell["indent"] + "pass\n"  # keep the tokenizer happy
        elif line.lstrip().startswith(("!", "%", "?")) or line.rstrip().endswith("?"):
            code_lines[number] = "\n"  # other IPython syntax: not ours to read
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("".join(code_lines)).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return sorted(found, key=lambda b: b.line)
    for logical in _logical_lines(tokens):
        background = _background_of(logical, lines)
        if background is not None:
            found.append(background)
    return sorted(found, key=lambda b: b.line)


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


def _background_of(tokens: list[tokenize.TokenInfo], lines: list[str]) -> Background | None:
    last = tokens[-1]
    if not (last.type == tokenize.OP and last.string == "&"):
        return None
    if last.start[0] != tokens[0].start[0] or len(tokens) < 2:
        # `&` alone, or a statement spread over lines: only one-line statements qualify.
        return _unusable(tokens, lines) if len(tokens) < 2 else None
    body = _simple_statement(tokens[:-1])
    if not body:
        return _unusable(tokens, lines)
    row = last.start[0] - 1
    line = lines[row]
    start, amp = body[0].start[1], last.start[1]
    text = line[start:amp].rstrip()
    depth, split = 0, None
    for token in body:
        if token.type == tokenize.OP and token.string in _OPEN:
            depth += 1
        elif token.type == tokenize.OP and token.string in _CLOSE:
            depth -= 1
        elif token.type == tokenize.OP and token.string == "=" and depth == 0:
            split = token  # the last `=`: `a = b = f() &` gives the job to a and b
    if split is not None:
        targets = line[start : split.start[1]].rstrip()
        source = line[split.end[1] : amp].strip()
        if not source:
            return _unusable(tokens, lines)
        return Background(row, start, amp, targets, source, False)
    keyword = body[0].type == tokenize.NAME and body[0].string in _STATEMENT_KEYWORDS
    augmented = any(t.type == tokenize.OP and t.string in _AUGMENTED for t in body)
    return Background(row, start, amp, None, text, keyword or augmented)


def _unusable(tokens: list[tokenize.TokenInfo], lines: list[str]) -> Background:
    last = tokens[-1]
    row = last.start[0] - 1
    return Background(row, last.start[1], last.start[1], None, "", True)


def _simple_statement(tokens: list[tokenize.TokenInfo]) -> list[tokenize.TokenInfo]:
    """The last simple statement of a logical line: after a compound header's colon and
    after the last `;`."""
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
    """The cleanup transform registered with IPython: rewrite each ``&`` statement."""
    cell = "".join(lines)
    if "&" not in cell:
        return lines
    backgrounds = find_backgrounds(cell)
    if not backgrounds:
        return lines
    out = cell.splitlines(keepends=True)
    for bg in backgrounds:
        line = out[bg.line]
        ending = line[len(line.rstrip("\r\n")) :]
        head = line[: bg.start]
        flags = ", statement=True" if bg.statement else ""
        call = f"{CALL}({bg.source!r}, locals(){flags})"
        if bg.targets is not None:
            call = f"{bg.targets} = {call}"
        out[bg.line] = head + call + (ending or "")
    return out
