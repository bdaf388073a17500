"""The council report: a year's trips, delegations received, partnerships and grants, on one page and
as a PDF with the same headings. The figures are the services' own year reports, asked with the
reader's key (so they count only what the reader may see); charts are drawn by pygal on the server."""

from __future__ import annotations

import asyncio
import base64
import math
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pygal
from babel.numbers import format_decimal
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pygal.style import Style

from board import i18n
from board.services import Services
from board.web import Board, BoardDep, SessionDep, language_for, render
from shared.translations import catalog

router = APIRouter(prefix="/board")

PRINT_CSS = Path(__file__).parent.parent / "static" / "report-print.css"
# The board's accent and its neighbours: every bar is also labelled with its value, so no colour carries meaning.
CHART_STYLE = Style(background="#ffffff", plot_background="#ffffff", foreground="#1b1f24",
                    foreground_strong="#1b1f24", foreground_subtle="#c9ced6", opacity="1", opacity_hover="1",
                    colors=("#0b5cad",), value_colors=("#ffffff",), guide_stroke_color="#c9ced6",
                    guide_stroke_dasharray="0", major_guide_stroke_color="#c9ced6",
                    major_guide_stroke_dasharray="0", font_family="DejaVu Sans, Arial, sans-serif",
                    label_font_size=14, major_label_font_size=14, value_font_size=14)


@router.get("/report")
async def report(request: Request, board: BoardDep, session: SessionDep,
                 year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Response:
    found = await _year(board, session.key, year or date.today().year, language_for(request, session))
    return render(request, "report/page.html", session, **found)


@router.get("/report.pdf")
async def report_pdf(request: Request, board: BoardDep, session: SessionDep,
                     year: Annotated[int | None, Query(ge=2000, le=2100)] = None) -> Response:
    # WeasyPrint loads Pango (a system library) when imported: only the PDF needs it, not the board.
    from weasyprint import CSS, HTML, URLFetcher

    language = language_for(request, session)
    found = await _year(board, session.key, year or date.today().year, language)
    html = i18n.environment(language).get_template("report/print.html").render(session=session, **found)
    # Laying out a document takes a CPU for a moment: not on the event loop.
    # The charts are data: URIs; nothing else is fetched, whatever a partner's name says.
    document = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"}))
    pdf = await asyncio.to_thread(lambda: document.write_pdf(stylesheets=[CSS(filename=PRINT_CSS)]))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="council-report-{found["year"]}.pdf"'})


async def _year(board: Board, key: str, year: int, language: str) -> dict[str, Any]:
    """Everything the report shows for `year`, in `language`."""
    ask = board.services
    first, last = date(year, 1, 1), date(year, 12, 31)
    travel, grants, partnerships, jubilees, trips = await asyncio.gather(
        ask.get("travel", "/summary", key, {"year": year}),
        ask.get("grants", "/reports", key, {"year": year}),
        _all(ask, "partners", "/partnerships", key, {"limit": 1000}),
        ask.get("partners", "/anniversaries", key, {"as_of": first.isoformat(),
                                                    "within_days": (last - first).days}),
        _all(ask, "travel", "/trips", key, {"from": first.isoformat(), "to": last.isoformat(), "limit": 500}))
    _ = catalog(i18n.LOCALE_DIR, language).gettext
    locale = i18n.LOCALES[language]
    purposes = _purpose_names(_)
    # A trip counts in the year its first leg starts in, as in travel's summary; cancelled ones did not happen.
    costs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for trip in trips:
        if (trip["status"] != "cancelled" and trip["estimated_cost"] is not None
                and min(leg["start_date"] for leg in trip["legs"]).startswith(str(year))):
            costs[(trip["department"], trip["currency"])] += Decimal(str(trip["estimated_cost"]))
    by_department = _ranked(travel["departments"])
    by_purpose = [(purposes.get(p, p), n) for p, n in _ranked(travel["purposes"])]
    funds = _ranked(grants["won_by_department"])
    return {
        "year": year, "travel": travel, "grants": grants,
        "by_department": by_department, "by_purpose": by_purpose, "funds": funds,
        "by_country": _ranked(travel["destinations_by_country"]),
        "delegations_by_country": _ranked(travel["delegations_by_origin_country"]),
        "costs": [(department, currency, _money(amount, locale))
                  for (department, currency), amount in sorted(costs.items())],
        "total_costs": [(currency, _money(Decimal(str(amount)), locale))
                        for currency, amount in sorted(travel["estimated_cost"].items())],
        "by_stage": _ranked(grants["by_stage"]),
        "new_partnerships": sorted((p for p in partnerships if p["formalised_on"].startswith(str(year))),
                                   key=lambda p: p["formalised_on"]),
        "dormant": sorted((p for p in partnerships if p["status"] == "dormant"), key=lambda p: p["partner_city"]),
        "jubilees": jubilees,
        # Formalised in a year whose day nobody recorded: the jubilee has a year, not a day.
        "year_only": {p["id"] for p in partnerships if p["formalised_year_only"]},
        "charts": {
            "departments": _chart(by_department, _("Trips"), locale, counts=True),
            "purposes": _chart(by_purpose, _("Trips"), locale, counts=True),
            "funds": _chart(funds, _("Euros"), locale, counts=False),
        },
    }


async def _all(ask: Services, service: str, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a list."""
    items, cursor = await ask.page(service, path, key, params)
    while cursor:
        more, cursor = await ask.page(service, path, key, {**params, "cursor": cursor})
        items += more
    return list(items)


def _ranked(counts: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _chart(rows: list[tuple[str, Any]], series: str, locale: str, counts: bool) -> str | None:
    """A horizontal bar chart as an SVG data URI (an <img> under the board's CSP, and in the PDF); none
    without figures. The page shows the same figures in a table beside it, under the same heading."""
    if not rows:
        return None
    chart = pygal.HorizontalBar(style=CHART_STYLE, show_legend=False, print_values=True, js=[],
                                disable_xml_declaration=True, width=640, height=70 + 44 * len(rows), margin=12,
                                truncate_label=-1, formatter=lambda value: format_decimal(value, locale=locale))
    chart.y_labels = _ticks(max(float(value) for _, value in rows), whole=counts)
    chart.x_labels = [label for label, _ in reversed(rows)]  # the largest on top
    chart.add(series, [float(value) for _, value in reversed(rows)])
    svg: str = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _ticks(top: float, whole: bool) -> list[float]:
    """About five round steps from 0 past `top` (1, 2 or 5 times a power of ten); whole numbers for
    counts (no 0.2 of a trip)."""
    rough = top / 5 or 1
    power = 10 ** math.floor(math.log10(rough))
    step = next(power * f for f in (1, 2, 5, 10) if power * f >= rough)
    if whole:
        step = max(1, round(step))
    return [step * i for i in range(math.ceil(top / step) + 1)]


def _money(amount: Decimal, locale: str) -> str:
    return format_decimal(amount, "#,##0.00", locale=locale)


def _purpose_names(_: Any) -> dict[str, str]:
    return {"partner_city_visit": _("partner city visit"), "trade_fair": _("trade fair"),
            "network_meeting": _("network meeting"), "eu_project_meeting": _("EU project meeting"),
            "conference": _("conference"), "anniversary": _("anniversary"), "other": _("other")}
