"""The weekly signal digests for PV staff (SPEC §15): the list of stored weeks, and one digest with its charts
drawn on the server, its signals explained and linked to their cases.

The digest is the API's (``digests.service.get_digest``), its weekly trend and findings breakdown
``digest_trends``; this module only orders and words them for the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from pv_service.di import Context, PageAsked
from pv_service.digests import charts, service
from pv_service.digests.charts import Bar, Interval
from pv_service.digests.schemas import DigestBody, DigestPair, DigestTrends, RisingPair
from pv_service.handlers.pages import web
from pv_service.handlers.pages.labels import N_, Labels, Worded, worded_pages
from pv_service.handlers.pages.web import SignedIn
from pv_service.jobs.periods import parse_period
from pv_service.rules.disproportionality import EVANS_MIN_CHI2, EVANS_MIN_PRR, SIGNAL_MIN_CASES
from pv_service.rules.priority import PRIORITIES
from pv_service.rules.workflow import SET_ASIDE, STATES

# The digest's population in the queue's terms: every state but the cases set aside.
COUNTED_STATES = tuple(state for state in STATES if state not in SET_ASIDE)
SECTIONS = (
    ("product", "cumulative"),
    ("product", "last_12_weeks"),
    ("ratio", "cumulative"),
    ("ratio", "last_12_weeks"),
)
# A week's short name under its column ("S47" in French).
WEEK_SHORT = N_("W{number}")
THRESHOLDS = {"min_a": SIGNAL_MIN_CASES, "min_prr": EVANS_MIN_PRR, "min_chi2": EVANS_MIN_CHI2}


@dataclass(frozen=True, slots=True)
class PairRow:
    group: str
    reaction: str
    pair: DigestPair
    cases_url: str


@dataclass(frozen=True, slots=True)
class PairSection:
    """The pairs of one level and window worth a look: the signals and the pairs with a ≥ 3."""

    key: str
    rows: list[PairRow]
    forest: list[Interval]

    @property
    def signals(self) -> int:
        return sum(row.pair.signal for row in self.rows)


@dataclass(frozen=True, slots=True)
class RiseRow:
    group: str
    reaction: str
    rise: RisingPair
    cases_url: str


@dataclass(frozen=True, slots=True)
class DigestView:
    week_labels: list[str]
    received: list[int]
    serious: list[int]
    by_priority: list[Bar]
    by_indication: list[Bar]
    by_product: list[Bar]
    anomalies_by_kind: list[tuple[str, Bar]]
    sections: list[PairSection]
    rising: list[RiseRow]


def cases_url(labels: Labels, level: str, group: str, reaction: str) -> str:
    """The queue filtered to a pair's cases (SPEC §13 filters), in every state the digest counts."""
    if level == "ratio":
        products = [code for code, product in labels.reference.products.items() if product.ratio == group]
    else:
        products = [group]
    query = [("product", code) for code in products] + [("reaction", reaction)]
    return "/queue?" + urlencode(query + [("state", state) for state in COUNTED_STATES])


def _in_order(counts: dict[str, int], order: list[str], label: Any) -> list[Bar]:
    """A bar for each code of ``order`` (zero when absent), then any other code counted."""
    codes = order + sorted(code for code in counts if code not in order)
    return [Bar(label(code), counts.get(code, 0)) for code in codes]


def _worth_a_look(pair: DigestPair) -> bool:
    return pair.signal or pair.a >= SIGNAL_MIN_CASES


def _section(labels: Labels, digest: DigestBody, level: str, window: str) -> PairSection:
    chosen = [p for p in digest.pairs if p.level == level and p.window == window and _worth_a_look(p)]
    # Signals first (new ones before), then the largest ROR: the forest plot reads top down.
    chosen.sort(key=lambda p: (not p.signal, not p.new, -(p.ror or 0.0), p.product, p.reaction))
    rows = [
        PairRow(
            group=labels.group(level, p.product),
            reaction=labels.reaction(p.reaction),
            pair=p,
            cases_url=cases_url(labels, level, p.product, p.reaction),
        )
        for p in chosen
    ]
    # The plot's rows name products by their code alone (the table beside says the form and ratio).
    forest = [
        Interval(
            f"{p.product if level == 'product' else row.group} – {row.reaction}",
            p.ror,
            p.ror_lower,
            p.ror_upper,
            p.signal,
        )
        for row, p in ((row, row.pair) for row in rows)
    ]
    return PairSection(key=f"{level}-{window}", rows=rows, forest=forest)


def digest_view(labels: Labels, digest: DigestBody, trends: DigestTrends) -> DigestView:
    totals = digest.totals
    reference = labels.reference
    kinds = sorted(trends.anomalies_by_kind.items(), key=lambda item: (-item[1], labels.kind(item[0])))
    return DigestView(
        week_labels=[labels.say(WEEK_SHORT, number=week.week[-2:]) for week in trends.weeks],
        received=[week.received for week in trends.weeks],
        serious=[week.serious for week in trends.weeks],
        by_priority=_in_order(totals.by_priority, list(PRIORITIES), str),
        by_indication=_in_order(totals.by_indication, list(reference.indications), labels.indication),
        by_product=_in_order(totals.by_product, list(reference.products), labels.product),
        anomalies_by_kind=[(kind, Bar(labels.kind(kind), count)) for kind, count in kinds],
        sections=[_section(labels, digest, level, window) for level, window in SECTIONS],
        rising=[
            RiseRow(
                group=labels.product(r.product),
                reaction=labels.reaction(r.reaction),
                rise=r,
                cases_url=cases_url(labels, "product", r.product, r.reaction),
            )
            for r in digest.rising
        ],
    )


class DigestPages(Controller):
    include_in_schema = False
    dependencies: ClassVar[dict[str, Provide]] = worded_pages("pv_staff")

    @get("/digests")
    async def digests(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, page: PageAsked, labels: Worded
    ) -> Template:
        listed = await service.list_digests(context, page.cursor, page.limit)
        weeks = [(entry, parse_period("week", entry.week)) for entry in listed.items]
        return web.page(
            request,
            "digests.html",
            viewer,
            weeks=weeks,
            next_cursor=listed.next_cursor,
            current_week=service.current_week(context),
            labels=labels,
        )

    @get("/digests/{week:str}")
    async def digest(
        self, request: Request[Any, Any, Any], viewer: SignedIn, context: Context, week: FromPath[str], labels: Worded
    ) -> Template:
        digest = await service.get_digest(context, week)
        trends = await service.digest_trends(context, digest)
        return web.page(
            request,
            "digest.html",
            viewer,
            digest=digest,
            trends=trends,
            view=digest_view(labels, digest, trends),
            labels=labels,
            charts=charts,
            thresholds=THRESHOLDS,
        )
