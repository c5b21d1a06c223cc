"""The one table model, written as LaTeX (booktabs) or Markdown; the writers escape its text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class Bold(str):
    """A cell set in bold."""


@dataclass
class Table:
    """A table as plain text, before it is written as LaTeX or Markdown."""

    head: list[str]  # one header per column; the first names the row labels (``Method``)
    rows: list[list[str]]  # per row: its label, then one cell per column
    groups: list[tuple[str, int]] = field(default_factory=list)  # (label, columns spanned)
    caption: str = ""  # LaTeX's (Markdown callers write theirs beside the table)


PREAMBLE = r"\usepackage{booktabs}"
"""Everything a rendered table needs in the document's preamble (written into its header)."""

_MATH = r"< > | \pm - \times \div \leq \geq \approx \rightarrow \Delta \alpha \beta \tau \theta"
_TEXT = r"\textbackslash{} \textasciitilde{} \textasciicircum{} \, -- --- \ldots{} \dag{}"
LATEX_SPECIAL = (
    {c: "\\" + c for c in "&%$#_{}"}
    # OT1, LaTeX's default font encoding, typesets < > | as other glyphs in text mode
    | {c: f"${m}$" for c, m in zip("<>|±−×÷≤≥≈→Δαβτθ", _MATH.split(), strict=True)}
    # a thin space (95\u2009% is 95\,\%), dashes, an ellipsis, a dagger
    | dict(zip("\\~^\u2009–—…†", _TEXT.split(), strict=True))
)
"""Text -> LaTeX for every character that is not typeset as itself."""


def latex_escape(text: str) -> str:
    """``text`` as LaTeX needing no package beyond :data:`PREAMBLE`; a character not in ASCII,
    Latin-1 or :data:`LATEX_SPECIAL` raises ValueError (it would stop pdflatex later)."""
    out = []
    for ch in text:
        plain = (ch.isascii() and ch.isprintable()) or "\u00c0" <= ch <= "\u00ff"
        if not (ch in LATEX_SPECIAL or ch.isspace() or plain):
            raise ValueError(
                f"{text!r}: character {ch!r} (U+{ord(ch):04X}) has no LaTeX form in "
                "bench.present.table.LATEX_SPECIAL; use another character or add it there"
            )
        out.append(LATEX_SPECIAL.get(ch, " " if ch.isspace() else ch))
    return "".join(out)


def latex_label(*parts: str) -> str:
    r"""A ``\label`` key: letters, digits and ``:-.`` kept, anything else ``-`` (a key is not
    typeset, so escaping would put backslashes into it)."""
    return re.sub(r"[^A-Za-z0-9:.-]", "-", ":".join(parts))


def _tex(text: str) -> str:
    return rf"\textbf{{{latex_escape(text)}}}" if isinstance(text, Bold) else latex_escape(text)


def _md(text: str) -> str:
    escaped = text.replace("|", r"\|")  # a | would end the cell
    return f"**{escaped}**" if isinstance(text, Bold) else escaped


def to_latex(t: Table, label: str, comments: list[str]) -> str:
    """The booktabs table: ``comments`` as ``%`` lines first, then ``t`` labelled ``label``."""
    lines = [f"% {c}" for c in comments] + [r"\begin{table}[t]", r"\centering", r"\small"]
    lines += [rf"\caption{{{latex_escape(t.caption)}}}", rf"\label{{{label}}}"]
    lines += [rf"\begin{{tabular}}{{l{'r' * (len(t.head) - 1)}}}", r"\toprule"]
    if t.groups:
        head, rules, first = [""], [], 2
        for g, w in t.groups:
            head.append(rf"\multicolumn{{{w}}}{{c}}{{{latex_escape(g)}}}")
            rules.append(rf"\cmidrule(lr){{{first}-{first + w - 1}}}")
            first += w
        lines += [" & ".join(head) + r" \\", " ".join(rules)]
    lines += [" & ".join(map(latex_escape, t.head)) + r" \\", r"\midrule"]
    lines += [" & ".join(map(_tex, row)) + r" \\" for row in t.rows]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def to_markdown(t: Table) -> list[str]:
    """The table's Markdown lines: the first header in lower case, each group's label folded into
    its first column's header (``digits: Ours``)."""
    head, i = [t.head[0].lower(), *([] if t.groups else t.head[1:])], 1
    for g, w in t.groups:
        head += [f"{g}: {t.head[i]}", *t.head[i + 1 : i + w]]
        i += w
    lines = ["| " + " | ".join(map(_md, head)) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(map(_md, row)) + " |" for row in t.rows]
