"""The page's content and its escaping, checked on the HTML text (no browser)."""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

from cds.report import render_html

from .cases import BP_GAP, WEIGHT_GAP, XSS, contraindicated, data_gaps, hostile, trd_eligible


class _Scan(HTMLParser):
    """Collects what could run or load: elements, event-handler attributes, link targets."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [k for k, _ in attrs if k.startswith("on")]
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src", "xlink:href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _scan(html: str) -> _Scan:
    s = _Scan()
    s.feed(html)
    return s


def test_markup_in_every_field_comes_out_inert() -> None:
    html = render_html(*hostile())
    scan = _scan(html)
    assert "script" not in scan.tags and "img" not in scan.tags
    assert scan.handlers == []
    assert not [h for h in scan.hrefs if not h.startswith("https://")]  # the javascript: URL is not a link
    # ...and the clinician still sees the text exactly as recorded.
    assert XSS in "".join(scan.text)
    assert "&lt;script&gt;" in html


def test_page_is_self_contained() -> None:
    html = render_html(*trd_eligible())
    scan = _scan(html)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(scan.tags)
    assert "@import" not in html and "url(http" not in html
    assert "default-src 'none'" in html  # the CSP refuses any load even if something slipped in


def test_contraindicated_products_get_no_calendar_and_say_why() -> None:
    html = render_html(*contraindicated())
    assert 'class="calendar"' not in html
    assert "No calendar: Esketamine nasal spray is contraindicated for this patient" in html
    assert "Condition/aaa-1" in html


def test_missing_dosing_gives_the_reason_and_what_to_obtain() -> None:
    html = render_html(*data_gaps())
    # Esketamine: dosing known, verdict insufficient-data: a calendar marked provisional.
    assert 'class="calendar" data-product="esketamine"' in html
    assert "Provisional" in html
    # IV ketamine: no dosing, so no calendar, and the paragraph says why and what to get.
    assert 'class="calendar" data-product="ketamine-iv"' not in html
    start = html.index('<p class="no-calendar" data-product="ketamine-iv">')
    reason = unescape(html[start : html.index("</p>", start)])
    assert "No calendar: dosing could not be computed" in reason
    assert "No body weight recorded in the last 30 days" in reason and WEIGHT_GAP in reason
    assert BP_GAP in unescape(html)
