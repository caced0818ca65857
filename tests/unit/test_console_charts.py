"""The console's server-drawn SVG bars: lengths in proportion, nothing drawn for no figure,
labels escaped."""

from __future__ import annotations

import re

from console.charts import WIDTH, Bar, rate_bars


def _bars(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'class="bar" x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]


def test_bars_are_as_long_as_the_rates() -> None:
    svg = rate_bars("签收率", [Bar("甲", 1.0), Bar("乙", 0.5), Bar("丙", 0.0)])
    assert _bars(svg) == [WIDTH, WIDTH / 2, 0.0]
    assert "100.0%" in svg and "50.0%" in svg and svg.startswith("<svg") and svg.endswith("</svg>")


def test_no_figure_draws_no_bar_and_says_so() -> None:
    svg = rate_bars("满意率", [Bar("甲", None, "0/0")])
    assert _bars(svg) == [] and "—" in svg and "(0/0)" in svg


def test_labels_and_title_are_escaped() -> None:
    svg = rate_bars("<t>", [Bar('<script>"x"</script>', 0.3)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;t&gt;" in svg


def test_rates_outside_zero_to_one_are_held_to_the_axis() -> None:
    assert _bars(rate_bars("x", [Bar("a", 1.7), Bar("b", -0.2)])) == [WIDTH, 0.0]
