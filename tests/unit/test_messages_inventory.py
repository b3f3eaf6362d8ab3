"""The message inventory and the approved messages (easymo_qa/messages/, easymo_qa/pytest_messages.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from easymo_qa.gates import METRICS, evaluate, load_gates
from easymo_qa.messages.approved import ApprovedFileError, approve, load_approved, review
from easymo_qa.messages.inventory import GENERIC_AGENT, Inventory, agent_of, sighting
from easymo_qa.messages.normalise import RunValues, emojis, normalise_id, normalise_text, run_specific_words
from easymo_qa.messages.section import METRIC, measurement, report_section
from easymo_qa.messages.writers import read_inventory, to_csv, to_markdown, write_inventory
from easymo_qa.pytest_messages import RecordingLog
from easymo_qa.signoff.results import RunResults
from easymo_qa.whatsapp.outbound import OutboundMessage

ROOT = Path(__file__).resolve().parents[2]


def checkout(order_id: str, total: str, phone: str) -> OutboundMessage:
    """The reference's checkout message (reference/texts.py `checkout`), as the Graph simulator records it."""
    body = {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": f"🧾 Order {order_id} from Kimironko Fresh Market\nTotal: {total}\nHow to pay?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"pay_momo:{order_id}", "title": "📲 MoMo"}},
                    {"type": "reply", "reply": {"id": f"pay_wallet:{order_id}", "title": "💳 Wallet"}},
                ]
            },
        },
    }
    return OutboundMessage.from_record({"seq": 7, "wamid": "wamid.x", "to": phone, "body": body})


def text(body: str, phone: str = "250790111222", seq: int = 1) -> OutboundMessage:
    return OutboundMessage.from_record(
        {"seq": seq, "to": phone, "body": {"type": "text", "text": {"body": body}}}
    )


def seen(message: OutboundMessage, values: RunValues | None = None, **kw: Any) -> dict[str, Any]:
    args = {"role": "buyer", "screen": "shared a location", "test": "tests/e2e/x.journey.yaml::x"} | kw
    return sighting(message, values=values or RunValues(), **args)


def inventory_of(*sightings: dict[str, Any]) -> Inventory:
    inventory = Inventory()
    for s in sightings:
        inventory.add(s)
    return inventory


# -- normalisation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("✅ Payment received for order ORD-7F3K2Q", "✅ Payment received for order {order_id}"),
        ("Total: 12,500 RWF", "Total: {amount}"),
        ("Total: RWF 12,500", "Total: {amount}"),
        ("Total: 12500 RWF", "Total: {amount}"),
        ("✅ Wallet topped up: +5,000 RWF.", "✅ Wallet topped up: +{amount}."),
        ("Call +250790123456 or 250788000111", "Call {phone} or {phone}"),
        ("type it like 0788 123 456.", "type it like {phone}."),
        ("Delivery code: 0421", "Delivery code: {code}"),
        ("🎫 Ticket SUP-XY12ZZ created.", "🎫 Ticket {id} created."),
        ("at 14:05 on 2026-12-03", "at {time} on {date}"),
        (
            "• Orders: 12\n• Rate: 5% (1 of 20 searches)",
            "• Orders: {count}\n• Rate: {percent} ({count} of {count} searches)",
        ),
        ("Dial *182*7*1# to see requests", "Dial *182*7*1# to see requests"),
    ],
)
def test_run_specific_values_become_placeholders(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_the_runs_own_names_phones_and_run_ids_become_placeholders() -> None:
    values = RunValues(
        phones=frozenset({"250790123456"}),
        names=frozenset({"Aimée Uwase", "Aimée"}),
        run_ids=frozenset({"kqzmwb"}),
    )
    said = normalise_text(
        '✨ Hello Aimée Uwase! No offers for "water kqzmwb". Hi Aimée, 250790123456', values
    )
    assert said == '✨ Hello {name}! No offers for "water {run_id}". Hi {name}, {phone}'
    assert normalise_text("An announcement", RunValues(names=frozenset({"Ann"}))) == "An announcement"


def test_tap_ids_keep_their_name_and_lose_their_data() -> None:
    assert normalise_id("pay_momo:ORD-7F3K2Q") == "pay_momo:{order_id}"
    assert normalise_id("offer:itm_water_20l") == "offer:{id}"
    assert normalise_id("back_home") == "back_home"


def test_run_ids_are_the_six_letter_words_the_test_source_does_not_hold() -> None:
    source = 'send: "2 jerrycans of water ${run_id}"'
    assert run_specific_words(['text "2 jerrycans of water kqzmwb"'], source) == {"kqzmwb"}


def test_two_runs_with_other_ids_amounts_and_phones_give_one_message() -> None:
    first = seen(
        checkout("ORD-AAAAAA", "3,500 RWF", "250790111111"), RunValues(phones=frozenset({"250790111111"}))
    )
    second = seen(
        checkout("ORD-BBBBBB", "7,000 RWF", "250790222222"), RunValues(phones=frozenset({"250790222222"}))
    )
    assert first["key"] == second["key"]
    assert first["buttons"] == [
        {"id": "pay_momo:{order_id}", "title": "📲 MoMo"},
        {"id": "pay_wallet:{order_id}", "title": "💳 Wallet"},
    ]
    inventory = inventory_of(first, second)
    assert len(inventory) == 1
    assert next(iter(inventory.entries.values())).count == 2
    assert seen(text("🛒 Changed words"))["key"] != seen(text("🛒 Other words"))["key"]


def test_emoji_and_agents() -> None:
    assert emojis("👩‍🍳 Order ⚠️ ready 🛒🛒") == ["👩‍🍳", "⚠", "🛒"]
    assert agent_of("driver", []) == "driver"
    assert agent_of("buyer2", []) == "buyer"
    assert agent_of("user", ["drv_accept:{order_id}"]) == "driver"
    assert agent_of("user", ["back_home"]) == GENERIC_AGENT


def test_the_first_test_is_the_same_whatever_order_workers_report_in() -> None:
    a = seen(text("✅ Done"), test="tests/e2e/b.journey.yaml::b", screen="tapped b")
    b = seen(text("✅ Done"), test="tests/e2e/a.journey.yaml::a", screen="tapped a")
    one, two = inventory_of(a, b).sorted()[0], inventory_of(b, a).sorted()[0]
    assert one == two
    assert one.first_test == "tests/e2e/a.journey.yaml::a"
    assert one.screen == "tapped a"


def test_the_recording_log_keeps_each_message_once_with_its_findings() -> None:
    log = RecordingLog()
    message = text("agent.not_available")
    log(message)
    log(message)  # the same message polled twice
    assert len(log.received) == 1
    assert log.checked == 1
    assert log.received[0][1]
    assert log.received[0][1][0].startswith("raw_i18n_key: ")


# -- writers -------------------------------------------------------------------------------------------


def test_markdown_csv_and_json(tmp_path: Path) -> None:
    inventory = inventory_of(
        seen(checkout("ORD-AAAAAA", "3,500 RWF", "250790111111")), seen(text("😔 Sorry | try"))
    )
    found = review(inventory, {})
    paths = write_inventory(inventory, found, tmp_path, approved_file="fixtures/messages.approved.yaml")
    assert [p.name for p in paths] == ["messages.md", "messages.csv", "messages.json"]
    md = (tmp_path / "messages.md").read_text(encoding="utf-8")
    assert "## buyer" in md
    assert "### shared a location" in md
    assert "unapproved: 2 (0 changed, 2 new)" in md
    assert "😔 Sorry \\| try" in md  # a pipe never breaks the table
    rows = list(csv.DictReader(io.StringIO((tmp_path / "messages.csv").read_text(encoding="utf-8"))))
    assert {r["approved"] for r in rows} == {"new"}
    assert rows[0]["agent"] == "buyer"
    assert "📲 MoMo (pay_momo:{order_id}) · 💳 Wallet (pay_wallet:{order_id})" in {r["buttons"] for r in rows}
    data = json.loads((tmp_path / "messages.json").read_text(encoding="utf-8"))
    assert data["review"]["unapproved"] == 2
    assert set(read_inventory(tmp_path / "messages.json").entries) == set(inventory.entries)
    assert "No approved messages file" in to_markdown(inventory, None, "x.yaml")
    assert to_csv(inventory, None).startswith("key,approved,agent,screen,kind,text")


# -- approval ------------------------------------------------------------------------------------------


def test_approve_then_the_same_inventory_has_nothing_unapproved(tmp_path: Path) -> None:
    approved_file = tmp_path / "messages.approved.yaml"
    inventory = inventory_of(
        seen(checkout("ORD-AAAAAA", "3,500 RWF", "250790111111")), seen(text("📦 Line one\nline two"))
    )
    done = approve(inventory, approved_file)
    assert len(done.added) == 2
    assert not done.changed
    assert not done.removed
    assert not review(inventory, load_approved(approved_file)).unapproved
    before = approved_file.read_text(encoding="utf-8")
    assert before.startswith("# The approved messages")
    assert "text: |-\n" in before
    again = approve(inventory, approved_file)  # idempotent: same bytes
    assert not (again.added)
    assert not (again.changed)
    assert not (again.removed)
    assert approved_file.read_text(encoding="utf-8") == before


def test_a_changed_text_is_exactly_that_message_unapproved_with_a_diff(tmp_path: Path) -> None:
    approved_file = tmp_path / "messages.approved.yaml"
    ask = "🛒 What would you like to order? Type the item, how many and your area."
    approve(inventory_of(seen(text(ask)), seen(text("💳 Wallet balance: 500 RWF"))), approved_file)
    # The reference's ASK_WHAT_TO_ORDER reworded (reference/texts.py), the rest unchanged.
    changed = inventory_of(
        seen(text(ask.replace("how many", "the quantity"))), seen(text("💳 Wallet balance: 900 RWF"))
    )
    found = review(changed, load_approved(approved_file))
    assert len(found.approved) == 1
    assert len(found.unapproved) == 1
    [u] = found.unapproved
    assert u.status == "changed"
    assert u.was is not None
    assert u.was.text == ask
    assert u.diff() == [f"- {ask}", f"+ {ask.replace('how many', 'the quantity')}"]
    done = approve(changed, approved_file)
    assert len(done.changed) == 1
    assert not done.added
    assert not done.removed
    assert "- 🛒 What would you like" in to_markdown(changed, found, "x.yaml")


def test_a_message_nothing_resembles_is_new_and_an_unsent_one_is_removed_or_kept(tmp_path: Path) -> None:
    approved_file = tmp_path / "a.yaml"
    approve(inventory_of(seen(text("⛔ Admin command denied"))), approved_file)
    other = inventory_of(seen(text("📊 Today: nothing at all to report for now")))
    assert [u.status for u in review(other, load_approved(approved_file)).unapproved] == ["new"]
    assert len(approve(other, approved_file, keep_unseen=True).kept) == 1
    assert len(load_approved(approved_file)) == 2
    assert len(approve(other, approved_file).removed) == 1


def test_a_broken_approved_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("# reviewed\n- kind: text\n  text: fine\n- kind: text\n  txt: typo\n", encoding="utf-8")
    with pytest.raises(ApprovedFileError, match=r"a\.yaml:4: an approved message has kind and text"):
        load_approved(path)
    path.write_text("- kind: text\n  text: [unclosed\n", encoding="utf-8")
    with pytest.raises(ApprovedFileError, match=r"a\.yaml:\d+"):
        load_approved(path)


# -- the gate ------------------------------------------------------------------------------------------


def test_the_gate_counts_unapproved_messages_and_is_report_only_by_default() -> None:
    inventory = inventory_of(seen(text("✅ One")), seen(text("✅ Two")))
    found = review(inventory, {})
    m = measurement(inventory, found)
    assert (m.value, m.samples) == (2.0, 2)
    assert "2 unapproved" in m.source
    assert measurement(Inventory(), review(Inventory(), {})).samples == 0
    results = RunResults()
    assert METRIC not in results.measurements()
    assert METRICS[METRIC] == "tests"
    results.extra_measurements[METRIC] = m
    gates = [g for g in load_gates(ROOT / "signoff.yaml") if g.metric == METRIC]
    assert [(g.id, g.report_only) for g in gates] == [("messages_approved", True)]
    [result] = evaluate(gates, results.measurements())
    assert result.status == "report only"
    assert not result.blocking
    [blocking] = evaluate([gates[0].model_copy(update={"report_only": False})], results.measurements())
    assert blocking.status == "fail"
    assert blocking.blocking
    section = report_section(inventory, found, approved_file="a.yaml", files=["messages.md"])
    assert (section["distinct"], section["approved"], section["unapproved"], section["sent"]) == (2, 0, 2, 2)


def test_the_report_partials_render(tmp_path: Path) -> None:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from easymo_qa.signoff.render import TEMPLATES, _cell, _fence

    env = Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(cell=_cell, fence=_fence)
    inventory = inventory_of(seen(text("✅ One <b>")))
    section = report_section(inventory, review(inventory, {}), approved_file="a.yaml", files=["messages.md"])
    md = env.get_template("messages.md.j2").render(r={"messages": section})
    assert "## Messages" in md
    assert "1 unapproved" in md
    assert "+ ✅ One <b>" in md
    html_env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=True)
    html = html_env.get_template("messages.html.j2").render(r={"messages": section})
    assert "✅ One &lt;b&gt;" in html
    assert "No message inventory" in html_env.get_template("messages.html.j2").render(r={})


# -- the command ---------------------------------------------------------------------------------------


def test_messages_approve_as_a_command(tmp_path: Path) -> None:
    inventory = inventory_of(
        seen(text("✅ Order delivered")), seen(checkout("ORD-AAAAAA", "3,500 RWF", "250790111111"))
    )
    write_inventory(inventory, None, tmp_path, approved_file="a.yaml")
    approved_file = tmp_path / "fixtures" / "messages.approved.yaml"
    command = [sys.executable, "-m", "easymo_qa.cli", "messages", "approve"]
    command += ["--from", str(tmp_path / "messages.json"), "--file", str(approved_file)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert "added: 2" in done.stdout
    assert "2 messages approved (2 added, 0 changed, 0 removed)" in done.stdout
    assert not review(inventory, load_approved(approved_file)).unapproved
    again = subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False)
    assert again.returncode == 0
    assert "up to date" in again.stdout
    bad = subprocess.run(
        [*command[:5], "--from", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 2
    assert "none.json" in bad.stderr


# -- against the local stack ---------------------------------------------------------------------------


def test_a_reworded_reference_message_is_the_one_unapproved_message_of_a_run(tmp_path: Path) -> None:
    """The reference with `raw_i18n_key` (its help reply reworded into a raw key), two xdist workers: the
    inventory merges both, and against the committed approved file only the help reply is unapproved."""
    suites = ["tests/smoke/test_hygiene.py", "tests/e2e/home_menu.journey.yaml"]
    command = [sys.executable, "-m", "pytest", *suites, "--env", "local", "--hygiene=warn", "-n", "2"]
    command += ["-p", "no:cacheprovider", "--reports-dir", str(tmp_path)]
    defect = {**os.environ, "REFERENCE_DEFECTS": "raw_i18n_key"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, env=defect)
    data = json.loads((tmp_path / "messages.json").read_text(encoding="utf-8"))
    texts = [m["text"] for m in data["messages"]]
    keys = [json.dumps([m["kind"], m["text"], m["buttons"], m["rows"]]) for m in data["messages"]]
    assert len(keys) == len(set(keys)), "one entry per distinct message"
    assert not [t for t in texts if re.search(r"\d{9,}", t)], "phone numbers are placeholders"
    unapproved = data["review"]["unapproved_messages"]
    hint = "a reference text changed? review reports/messages.md, then easymo-qa messages approve"
    assert [(u["status"], u["agent"]) for u in unapproved] == [("changed", "support")], (
        f"{unapproved}\n({hint})\n{done.stdout[-2000:]}"
    )
    assert "+ agent.not_available" in unapproved[0]["diff"]
    assert "- 🆘 Help" in unapproved[0]["diff"]
