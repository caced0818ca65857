"""Bar charts as inline SVG, drawn on the server: no chart library, no script, nothing fetched.

Pure: labelled values in, markup out (escaped here, so a template may mark it safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

ROW = 22  # px per bar
LABEL = 200  # px for the labels on the left
LABEL_CHARS = 15  # a longer label is cut (its full text is in the title tooltip and the table above)
WIDTH = 360  # px for the longest bar
VALUE = 70  # px for the figure after a bar


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # a rate in [0, 1]; None: nothing was due, drawn as "—"
    note: str = ""  # shown after the value, e.g. "12/15"


def rate_bars(title: str, bars: list[Bar]) -> str:
    """Horizontal bars of rates (0 to 100 %), one per label, with the figure written after each bar."""
    height = ROW * len(bars) + 8
    total = LABEL + WIDTH + VALUE + 60
    out = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {total} {height}" '
        f'width="{total}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = 4 + i * ROW
        short = bar.label if len(bar.label) <= LABEL_CHARS else bar.label[: LABEL_CHARS - 1] + "…"
        out.append(f'<text x="{LABEL - 6}" y="{y + 15}" text-anchor="end" font-size="12"><title>{escape(bar.label)}</title>{escape(short)}</text>')
        out.append(f'<rect x="{LABEL}" y="{y + 3}" width="{WIDTH}" height="{ROW - 8}" fill="#eef1f5"/>')
        if bar.value is None:
            shown = "—"
        else:
            share = min(max(bar.value, 0.0), 1.0)
            out.append(f'<rect class="bar" x="{LABEL}" y="{y + 3}" width="{round(WIDTH * share, 1)}" height="{ROW - 8}" fill="{_colour(share)}"/>')
            shown = f"{share * 100:.1f}%"
        note = f" ({escape(bar.note)})" if bar.note else ""
        out.append(f'<text x="{LABEL + WIDTH + 6}" y="{y + 15}" font-size="12">{shown}{note}</text>')
    out.append("</svg>")
    return "".join(out)


def _colour(share: float) -> str:
    # Below 80 % is what the centre's assessment flags; a darker bar is the better one.
    return "#2f6db5" if share >= 0.9 else ("#6b9bd1" if share >= 0.8 else "#d9822b")
