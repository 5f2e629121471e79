"""A digest as CSV (one row per pair), as an HTML page with charts, and as terminal text."""

from __future__ import annotations

import csv
import io
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from pv_service.digests.schemas import DigestBody

CSV_COLUMNS = (
    "level", "window", "product", "reaction", "a", "b", "c", "d", "prr", "chi2", "ror", "ror_lower", "ror_upper",
    "ic", "ic025", "signal", "signal_criteria", "new",
)  # fmt: skip


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(str(item) for item in value)
    return str(value)


def digest_csv(digest: DigestBody) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for pair in digest.pairs:
        writer.writerow([_cell(getattr(pair, column)) for column in CSV_COLUMNS])
    return buffer.getvalue()


@cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("pv_service", "templates"), autoescape=select_autoescape(["html"]))


def _bars(counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """Label, count and bar width (percent of the largest) for a horizontal bar chart."""
    top = max(counts.values(), default=0) or 1
    return [
        (label, count, 100 * count / top) for label, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def digest_html(digest: DigestBody) -> str:
    signals = [p for p in digest.pairs if p.signal]
    return (
        _templates()
        .get_template("digest.html")
        .render(
            digest=digest,
            signals=signals,
            charts=[
                ("Cases by priority", _bars(digest.totals.by_priority)),
                ("Cases by indication", _bars(digest.totals.by_indication)),
                ("Cases by product", _bars(digest.totals.by_product)),
            ],
        )
    )


def digest_text(digest: DigestBody) -> str:
    totals = digest.totals
    lines = [
        f"Weekly signal digest {digest.week} ({digest.start} to {digest.end}){'' if digest.complete else ' — so far'}",
        f"received {totals.received}  serious {totals.serious}  overdue {totals.overdue}  anomalies {totals.anomalies}",
        "by priority: " + "  ".join(f"{k} {v}" for k, v in totals.by_priority.items()),
        "by product: " + ("  ".join(f"{k} {v}" for k, v in sorted(totals.by_product.items())) or "-"),
        "by indication: " + ("  ".join(f"{k} {v}" for k, v in sorted(totals.by_indication.items())) or "-"),
        "",
        "signals (level window product reaction a PRR chi2 ROR [95% CI] IC025 new):",
    ]
    for p in (p for p in digest.pairs if p.signal):
        lines.append(
            f"  {p.level:7} {p.window:13} {p.product:14} {p.reaction:28} a={p.a:<4} "
            f"PRR={_number(p.prr)} chi2={_number(p.chi2)} ROR={_number(p.ror)} "
            f"[{_number(p.ror_lower)}-{_number(p.ror_upper)}] IC025={_number(p.ic025)}{'  NEW' if p.new else ''}"
        )
    if not any(p.signal for p in digest.pairs):
        lines.append("  none")
    lines.append("rising:")
    lines += [
        f"  {r.product} {r.reaction}: {r.count} this week "
        f"(12-week mean {r.baseline_mean:.2f}, threshold {r.threshold:.2f}, p = {r.p_value:.2g})"
        for r in digest.rising
    ] or ["  none"]
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
