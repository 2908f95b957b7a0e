"""Neutralisers for untrusted text (suite names, prompts, model output, error messages) at each kind of sink.

A terminal obeys escape sequences, a Markdown renderer obeys markup, a spreadsheet obeys formulas, and every one
of them shows bidi overrides as a reordering of what follows. Each sink calls the one function made for it, so a
string read from a suite file or a model's answer shows as what it is, never as instructions to the display.
Hand-written because no library covers all three sinks with the same character classes.
"""

from __future__ import annotations

import re

# C0 controls (except tab and newline, handled per sink), DEL and the C1 block
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# bidi embeddings, overrides and isolates, the implicit marks, and the Arabic letter mark
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_LINE_BREAKS = re.compile("[\n\u2028\u2029\x85]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(match: re.Match[str]) -> str:
    """A neutralised character is shown as its escape (`\\x1b`, `\\u202e`), so a reader can see it was there."""
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: object, keep_newlines: bool = False) -> str:
    """Text safe to print: no escape sequence, no bidi override, and one line unless `keep_newlines`."""
    s = "" if text is None else str(text)
    s = _BIDI.sub(_visible, _CONTROL.sub(_visible, s))
    s = s.replace("\t", " ")
    return s if keep_newlines else _LINE_BREAKS.sub(" ", s)


def for_markdown(text: object) -> str:
    """Text safe inside a Markdown table cell or line: terminal-safe, one line, no markup, no raw HTML."""
    s = for_terminal(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def for_csv(text: str | None) -> str | None:
    """A CSV field: no NUL or other control bytes (newlines and tabs are kept: CSV quoting carries them),
    no bidi override. Formula-like starts are defused separately by the exporter, which knows the columns."""
    if text is None:
        return None
    return _BIDI.sub(_visible, _CONTROL.sub(_visible, text))


# the same character classes as `for_csv`, spelled for RE2 (pyarrow.compute) so an exporter can apply them to a
# whole column at once; matches are replaced by U+FFFD there
CSV_UNSAFE_RE2 = (r"[\x00-\x08\x0b-\x1f\x7f-\x{9f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{200e}\x{200f}"
                  r"\x{061c}]")


def looks_like_formula(text: str) -> bool:
    return text.startswith(_FORMULA_START)
