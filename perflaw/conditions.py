"""Row conditions of the runs layer (``--where``, ``--holdout``, ``--exclude``).

A condition is comparisons joined by ``&`` (and) and ``|`` (or), with parentheses;
``&`` binds tighter than ``|``::

    layers>=24
    end!='cap' & backbone=='sasrec'
    layers==1 | layers==8
    layers in (1, 8) & (d_emb<64 | d_emb>=256)

A comparison is ``column op value`` (``op`` one of ``< <= > >= == = !=``) or
``column in (v1, v2, ...)`` / ``column not in (...)``; a value is a number or a quoted
string (strings compare with ``==``, ``!=`` and ``in`` only).  Nothing in a condition is
ever evaluated as code: it is read by a tokenizer and a small recursive-descent parser,
in time linear in its length, and refused in one line when it is longer than
:data:`MAX_LENGTH` characters or nested deeper than :data:`MAX_DEPTH` parentheses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perflaw.errors import DataError

#: the longest condition read (a real one is a few dozen characters)
MAX_LENGTH = 1000
#: the deepest nesting of parentheses read
MAX_DEPTH = 32

# one alternative per token kind; each is anchored where the last token ended and never
# backtracks past it, so tokenizing is linear in the length
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>'[^']*'|"[^"]*")
    | (?P<name>[A-Za-z_][\w@.]*)
    | (?P<op><=|>=|==|!=|<|>|=)
    | (?P<punct>[&|(),])
    )""",
    re.VERBOSE,
)
_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "=": np.equal,
    "!=": np.not_equal,
}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def tokenize(condition: str) -> list[_Tok]:
    """The tokens of a condition; :class:`DataError` at the first character that starts
    none.

    >>> [t.text for t in tokenize("layers in (1, 8) | end!='cap'")]
    ['layers', 'in', '(', '1', ',', '8', ')', '|', 'end', '!=', "'cap'"]
    """
    text = str(condition)
    if len(text) > MAX_LENGTH:
        raise DataError(
            f"condition is {len(text):,} characters long; at most {MAX_LENGTH:,} are read"
        )
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise DataError(
                f"cannot parse condition {text!r}: unexpected {text[pos:].lstrip()[:1]!r} "
                f"at character {len(text) - len(text[pos:].lstrip()) + 1}"
            )
        kind = m.lastgroup or ""
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    """``or := and ('|' and)*; and := atom ('&' atom)*; atom := '(' or ')' | comparison``."""

    def __init__(self, condition: str, frame: pd.DataFrame) -> None:
        self.text = str(condition)
        self.toks = tokenize(self.text)
        self.i = 0
        self.frame = frame

    def fail(self, expected: str):
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        where = f"{tok.text!r} at character {tok.pos + 1}" if tok else "the end"
        raise DataError(
            f"cannot parse condition {self.text!r}: expected {expected}, found {where} "
            "(use e.g. 'layers>=24 & d_emb<100', \"end!='cap'\", 'layers in (1, 8)')"
        )

    def peek(self, *texts: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i].text in texts

    def take(self, kind: str, what: str) -> _Tok:
        if self.i >= len(self.toks) or self.toks[self.i].kind != kind:
            self.fail(what)
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> np.ndarray:
        if not self.toks:
            self.fail("a comparison")
        mask = self.either(0)
        if self.i < len(self.toks):
            self.fail("'&', '|' or the end")
        return mask

    def either(self, depth: int) -> np.ndarray:
        mask = self.both(depth)
        while self.peek("|"):
            self.i += 1
            mask = mask | self.both(depth)
        return mask

    def both(self, depth: int) -> np.ndarray:
        mask = self.atom(depth)
        while self.peek("&"):
            self.i += 1
            mask = mask & self.atom(depth)
        return mask

    def atom(self, depth: int) -> np.ndarray:
        if self.peek("("):
            if depth >= MAX_DEPTH:
                raise DataError(f"condition nests parentheses deeper than {MAX_DEPTH}: simplify it")
            self.i += 1
            mask = self.either(depth + 1)
            if not self.peek(")"):
                self.fail("')'")
            self.i += 1
            return mask
        name = self.take("name", "a column name").text
        column = self.column(name)
        if self.peek("in") or self.peek("not"):
            negate = self.toks[self.i].text == "not"
            self.i += 1
            if negate and not self.peek("in"):
                self.fail("'in' after 'not'")
            if negate:
                self.i += 1
            values = self.value_list()
            mask = np.zeros(len(self.frame), bool)
            for v in values:
                mask |= self.compare(column, "==", v)
            return ~mask if negate else mask
        op = self.take("op", "a comparison operator (< <= > >= == !=) or 'in'").text
        return self.compare(column, op, self.value())

    def value(self) -> float | str:
        if self.i < len(self.toks) and self.toks[self.i].kind == "string":
            self.i += 1
            return self.toks[self.i - 1].text[1:-1]
        return float(self.take("number", "a number or a quoted string").text)

    def value_list(self) -> list[float | str]:
        if not self.peek("("):
            self.fail("'(' opening a list of values")
        self.i += 1
        values = [self.value()]
        while self.peek(","):
            self.i += 1
            values.append(self.value())
        if not self.peek(")"):
            self.fail("',' or ')' closing the list of values")
        self.i += 1
        return values

    def column(self, name: str) -> str:
        # the one column lookup; io imports polars, which a condition does not need
        from perflaw.io import find_column

        try:
            return find_column(self.frame.columns, name)
        except DataError:
            raise DataError(f"condition {self.text!r} names unknown column {name!r}") from None

    def compare(self, column: str, op: str, value: float | str) -> np.ndarray:
        col = self.frame[column]
        if isinstance(value, str):
            if op not in ("==", "=", "!="):
                raise DataError(
                    f"condition {self.text!r}: {column} {op} {value!r} compares text; "
                    "text compares with ==, != or in"
                )
            text = col.astype(str).to_numpy()
            return np.asarray(_OPS[op](text, value), bool)
        v = pd.to_numeric(col, errors="coerce").to_numpy(float)
        return np.asarray(_OPS[op](v, value), bool)


def parse_condition(condition: str, frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` matching ``condition`` (the module docstring).

    Examples
    --------
    >>> df = pd.DataFrame({"layers": [4, 16, 24, 32], "d_emb": [25, 50, 25, 50],
    ...                    "end": ["cap", "patience", "cap", "patience"]})
    >>> parse_condition("layers>=24", df).tolist()
    [False, False, True, True]
    >>> parse_condition("layers >= 24 & d_emb == 50", df).tolist()
    [False, False, False, True]
    >>> parse_condition("end!='cap' | layers in (4, 24)", df).tolist()
    [True, True, True, True]
    >>> parse_condition("(layers==4 | layers==32) & end=='cap'", df).tolist()
    [True, False, False, False]
    """
    return _Parser(condition, frame).parse()
