"""One table model, written as LaTeX (booktabs) or Markdown: the paper's tables, the forest
table, and every table of ``REPORT.md`` and the README.

A :class:`Table` is plain text: a header per column (the first names the row labels), rows of
cells (a :class:`Bold` cell is set in bold), an optional header row over the columns
(``groups``: a label and how many columns it spans) and a caption. :func:`to_latex` escapes every
text through :func:`latex_escape` (a table needs only :data:`PREAMBLE`); :func:`to_markdown`
escapes ``|``, writes the first header in lower case and folds each group's label into its first
column's header (``digits: Ours``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class Bold(str):
    """A cell set in bold."""


@dataclass
class Table:
    """A table as plain text, before it is written as LaTeX or Markdown."""

    head: list[str]
    """One header per column; the first names the row labels (``Method``)."""
    rows: list[list[str]]
    """Per row: its label, then one cell per column (:class:`Bold` for bold)."""
    groups: list[tuple[str, int]] = field(default_factory=list)
    """A header row over the columns after the first: ``(label, columns spanned)``."""
    caption: str = ""
    """The LaTeX caption (Markdown callers write theirs beside the table)."""


PREAMBLE = r"\usepackage{booktabs}"
"""Everything a rendered table needs in the document's preamble (written into its header)."""


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # OT1, LaTeX's default font encoding, typesets these three as other glyphs in text mode
    "<": r"$<$",
    ">": r"$>$",
    "|": r"$|$",
    "±": r"$\pm$",
    "−": r"$-$",
    "×": r"$\times$",
    "÷": r"$\div$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "≈": r"$\approx$",
    "→": r"$\rightarrow$",
    "Δ": r"$\Delta$",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "τ": r"$\tau$",
    "θ": r"$\theta$",
    "\u2009": r"\,",  # a thin space: 95\u2009% is 95\,\%
    "–": "--",
    "—": "---",
    "…": r"\ldots{}",
    "†": r"\dag{}",
}
"""Text -> LaTeX for every character that is not typeset as itself."""


def latex_escape(text: str) -> str:
    """``text`` as LaTeX that typesets it (captions, labels, cells, display names).

    Every text that goes into a rendered .tex passes here, and it needs no package beyond
    :data:`PREAMBLE`. ASCII and the Latin-1 letters (which LaTeX's default UTF-8 input encoding
    types) pass through; any other character raises, so a label that would stop pdflatex is
    reported when the table is rendered, naming the text.

    Raises:
        ValueError: ``text`` holds a character LaTeX cannot typeset without another package.
    """
    out = []
    for ch in text:
        if ch in LATEX_SPECIAL:
            out.append(LATEX_SPECIAL[ch])
        elif ch.isspace():
            out.append(" ")  # a line break or tab in a label is a space when typeset
        elif (ch.isascii() and ch.isprintable()) or ("\u00c0" <= ch <= "\u00ff"):
            out.append(ch)
        else:
            raise ValueError(
                f"{text!r}: character {ch!r} (U+{ord(ch):04X}) has no LaTeX form in "
                "bench.present.render.LATEX_SPECIAL; use another character or add it there"
            )
    return "".join(out)


def latex_label(*parts: str) -> str:
    r"""A ``\label`` key: letters, digits and ``:-.`` kept, anything else ``-`` (a key is not
    typeset, so escaping would put backslashes into it)."""
    return re.sub(r"[^A-Za-z0-9:.-]", "-", ":".join(parts))


def md_escape(text: str) -> str:
    """A Markdown table cell: ``|`` would end the cell."""
    return text.replace("|", r"\|")


def _latex_cell(text: str) -> str:
    return rf"\textbf{{{latex_escape(text)}}}" if isinstance(text, Bold) else latex_escape(text)


def to_latex(t: Table, label: str, comments: list[str]) -> str:
    """The booktabs table: ``comments`` as ``%`` lines first, then ``t`` labelled ``label``."""
    lines = [f"% {c}" for c in comments]
    lines += [r"\begin{table}[t]", r"\centering", r"\small"]
    lines += [rf"\caption{{{latex_escape(t.caption)}}}", rf"\label{{{label}}}"]
    lines += [rf"\begin{{tabular}}{{l{'r' * (len(t.head) - 1)}}}", r"\toprule"]
    if t.groups:
        head, rules, first = [""], [], 2
        for g, w in t.groups:
            head.append(rf"\multicolumn{{{w}}}{{c}}{{{latex_escape(g)}}}")
            rules.append(rf"\cmidrule(lr){{{first}-{first + w - 1}}}")
            first += w
        lines += [" & ".join(head) + r" \\", " ".join(rules)]
    lines += [" & ".join(latex_escape(h) for h in t.head) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex_cell(c) for c in row) + r" \\" for row in t.rows]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def _md_cell(text: str) -> str:
    return f"**{md_escape(text)}**" if isinstance(text, Bold) else md_escape(text)


def to_markdown(t: Table) -> list[str]:
    """The table's Markdown lines (its caption is the caller's to write)."""
    head = [t.head[0].lower()]
    if t.groups:
        i = 1
        for g, w in t.groups:
            head += [f"{g}: {t.head[i]}", *t.head[i + 1 : i + w]]
            i += w
    else:
        head += t.head[1:]
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
