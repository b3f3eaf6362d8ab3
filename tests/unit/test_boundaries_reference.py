"""The reference's messages stay inside Meta's limits at every length, and each off-by-one switch breaks that.

The builders of ``reference/messages.py`` get texts generated around each Cloud API limit (emoji, joiners,
spaces included) and every message they build must pass the Graph simulator's rules. The journeys
``tests/e2e/boundary_*`` hold the running service to the same limits through seeded data; what
no journey can reach without disturbing shared actors (a driver's hub with four jobs waiting) is here.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_reference_fakes import DRIVER1, REM_OWNER, choice_ids, ready_order, run_async, service

from easymo_qa.whatsapp.rules.request import validate_outbound
from reference import defects
from reference import messages as m

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-OUT-1", "R-OUT-2")]
TO = "250790000001"
PROFILE = settings(max_examples=60, deadline=None, database=None)
# Meta's limits (reference/messages.py cites them; easymo_qa/whatsapp/rules/ enforces them).
LIMITS = {"body": 1024, "header": 60, "footer": 60, "button": 20, "row": 24, "description": 72, "section": 24}

# Pieces a real name or message is made of, including ones that are hard to cut: emoji, a zero-width
# joiner sequence, accents, spaces at the cut.
_PIECES = ["a", "Z", "é", " ", "7", ",", "🛵", "👩\u200d🍳", "\u200d", "…", "ñ", "\n"]


@st.composite
def texts(draw: st.DrawFn, limit: int) -> str:
    """A non-blank text whose length is near ``limit``: just under, at, just over or far over it."""
    length = draw(st.sampled_from([1, limit - 1, limit, limit + 1, limit + 2, 2 * limit + 3]))
    pieces = draw(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8))
    text = ("".join(pieces) * (length + 1))[:length]
    return text if text.strip() else "x" + text[1:]


@pytest.fixture(autouse=True)
def healthy_builders() -> Iterator[None]:
    m.configure(())
    yield
    m.configure(())


def _assert_cut(sent: str, original: str, limit: int) -> None:
    assert len(sent) <= limit
    if len(original) <= limit:
        assert sent == original
    else:
        assert sent.endswith(m.ELLIPSIS)
        assert original.startswith(sent[:-1].rstrip(" \t\n\u200d"))


@PROFILE
@given(
    body=texts(LIMITS["body"]),
    header=texts(LIMITS["header"]),
    footer=texts(LIMITS["footer"]),
    titles=st.lists(texts(LIMITS["button"]), min_size=1, max_size=3),
)
def test_buttons_fit_at_every_length(body: str, header: str, footer: str, titles: list[str]) -> None:
    choices = [m.Button(f"b{i}", f"{i}{t}") for i, t in enumerate(titles)]  # titles must differ
    message = m.buttons(TO, body, choices, header=header, footer=footer)
    assert validate_outbound(message) == []
    interactive = message["interactive"]
    _assert_cut(interactive["body"]["text"], body, LIMITS["body"])
    _assert_cut(interactive["header"]["text"], header, LIMITS["header"])
    for sent, choice in zip(interactive["action"]["buttons"], choices, strict=True):
        _assert_cut(sent["reply"]["title"], choice.title, LIMITS["button"])


@PROFILE
@given(
    section=texts(LIMITS["section"]),
    rows=st.lists(st.tuples(texts(LIMITS["row"]), texts(LIMITS["description"])), min_size=1, max_size=10),
    body=texts(4096),
)
def test_lists_fit_at_every_length(section: str, rows: list[tuple[str, str]], body: str) -> None:
    built = [m.Row(f"r{i}", title, description) for i, (title, description) in enumerate(rows)]
    message = m.list_message(TO, body, "Open", [m.Section(section, built)])
    assert validate_outbound(message) == []
    [sent_section] = message["interactive"]["action"]["sections"]
    _assert_cut(sent_section["title"], section, LIMITS["section"])
    for sent, row in zip(sent_section["rows"], built, strict=True):
        _assert_cut(sent["title"], row.title, LIMITS["row"])
        _assert_cut(sent["description"], row.description, LIMITS["description"])


@PROFILE
@given(body=texts(4096))
def test_texts_fit_at_every_length(body: str) -> None:
    message = m.text(TO, body)
    assert validate_outbound(message) == []
    _assert_cut(message["text"]["body"], body, 4096)


def test_more_than_meta_allows_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="1 to 3 buttons"):
        m.buttons(TO, "Pick", [m.Button(f"b{i}", f"B{i}") for i in range(4)])
    rows = [m.Row(f"r{i}", f"Row {i}") for i in range(11)]
    with pytest.raises(ValueError, match="1 to 10 rows"):
        m.list_message(TO, "Pick", "Open", [m.Section("", rows)])


@pytest.mark.parametrize(
    ("switch", "row", "path"),
    [
        (defects.ROW_TITLE_CUT_AT_25, m.Row("r0", "t" * 30), "title"),
        (defects.ROW_DESCRIPTION_CUT_AT_73, m.Row("r0", "Row", "d" * 80), "description"),
    ],
)
def test_each_cut_switch_makes_meta_refuse_the_list(switch: str, row: m.Row, path: str) -> None:
    assert validate_outbound(m.list_message(TO, "Pick", "Open", [m.Section("", [row])])) == []
    m.configure([switch])
    [violation] = validate_outbound(m.list_message(TO, "Pick", "Open", [m.Section("", [row])]))
    assert violation.path.endswith(f"rows[0].{path}")


@pytest.mark.parametrize("switch", [defects.MENU_ROWS_OFF_BY_ONE, defects.OFFERS_UNCAPPED])
def test_uncapped_list_switches_reach_meta_and_are_refused(switch: str) -> None:
    m.configure([switch])
    rows = [m.Row(f"r{i}", f"Row {i}") for i in range(11)]
    violations = validate_outbound(m.list_message(TO, "Pick", "Open", [m.Section("", rows)]))
    assert any("at most 10 rows" in v.message for v in violations)


@run_async
async def test_a_driver_with_four_jobs_waiting_gets_three_buttons(tmp_path: Path) -> None:
    async with service(tmp_path) as svc:
        jobs = [await ready_order(svc) for _ in range(4)]
        await svc.tap(DRIVER1, "driver_hub")
        hub = svc.last(DRIVER1)
    assert validate_outbound(hub) == []
    assert choice_ids(hub) == [f"drv_accept:{job}" for job in jobs[:3]]


@run_async
async def test_the_four_buttons_switch_makes_meta_refuse_the_hub(tmp_path: Path) -> None:
    async with service(tmp_path, defects.DRIVER_JOBS_FOUR_BUTTONS) as svc:
        for _ in range(4):
            await ready_order(svc)
        await svc.tap(DRIVER1, "driver_hub")
        hub = svc.last(DRIVER1)
    assert len(choice_ids(hub)) == 4
    assert any("at most 3 buttons" in v.message for v in validate_outbound(hub))


# Names a vendor may type for a new item (1 to 40 characters; no digits or commas, which the
# "<name>, <price>" reply reads as the price).
_NAME_PIECES = ["a", "Ü", "é", "🍯", "👩\u200d🍳", " ", "ñ", "k", "W"]


@st.composite
def item_names(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([1, 23, 24, 25, 26, 39, 40]))
    pieces = draw(st.lists(st.sampled_from(_NAME_PIECES), min_size=1, max_size=6))
    name = " ".join(("".join(pieces) * (length + 1))[:length].split())
    return name if name else "x"


@settings(max_examples=15, deadline=None, database=None)
@given(name=item_names())
def test_a_vendors_new_item_fits_the_menu_at_every_name_length(name: str) -> None:
    async def scenario(folder: str) -> dict:
        async with service(Path(folder)) as svc:
            await svc.tap(REM_OWNER, "vnd_add")
            await svc.text(REM_OWNER, f"{name}, 5000")
            await svc.tap(REM_OWNER, "vnd_menu")
            return svc.last(REM_OWNER)

    with tempfile.TemporaryDirectory() as folder:
        menu = asyncio.run(asyncio.wait_for(scenario(folder), timeout=30))
    assert validate_outbound(menu) == []
    newest = menu["interactive"]["action"]["sections"][0]["rows"][0]
    _assert_cut(newest["title"], name, LIMITS["row"])
