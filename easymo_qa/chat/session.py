"""The chat loop: one line in, the action it asks for, then every message the bot sends any actor of the
session, rendered as WhatsApp would show it, until /quit or the end of input."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack

import httpx
from rich.console import Console
from rich.text import Text

from easymo_qa.chat import commands
from easymo_qa.chat.model import DEFAULT_STAFF, ChatActor, Received, Turn
from easymo_qa.chat.render import choices, render_message
from easymo_qa.conversation.actor_locks import STATEFUL_ROLES, seeded_actor_locks
from easymo_qa.conversation.model import Actor, Journey
from easymo_qa.conversation.strictness import REFERENCE_ID
from easymo_qa.hygiene.log import HygieneLog
from easymo_qa.target import Target
from easymo_qa.whatsapp.expect import ReplyError
from easymo_qa.whatsapp.identity import UserKind
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.outbound import OutboundMessage
from easymo_qa.whatsapp.replies import ReplyReader
from easymo_qa.whatsapp.transcript import Transcript, TranscriptEntry
from easymo_qa.whatsapp.user import WhatsAppUser

ReadLine = Callable[[str], str | None]  # shows a prompt, returns the line typed (None at the end of input)
_TICK = 0.05


def another_conversations(ids: set[str], ours: set[str]) -> bool:
    """Whether a message to shared seeded staff naming ``ids`` belongs to someone else's conversation: it
    names none of ours, only ids of kinds we have one of (ORD-B while ours is ORD-A). A first id of a new
    kind (a quote request QR-… the vendor hears of before the buyer) is shown."""
    kinds = {i.split("-", 1)[0] for i in ours}
    return bool(ids) and not ids & ours and all(i.split("-", 1)[0] in kinds for i in ids)


class ChatSession:
    """Plays one or more actors against the bot; keeps every action and reply for the transcript and the
    recording. Messages to seeded staff naming only other conversations' ids are hidden (shared numbers)."""

    def __init__(
        self,
        target: Target,
        client: httpx.Client,
        console: Console,
        numbers: TestNumberPool,
        *,
        settle: float | None = None,
        hygiene: HygieneLog | None = None,
    ) -> None:
        self.target, self.client, self.console, self.numbers = target, client, console, numbers
        if not target.graph_api_url:
            raise ValueError(
                f"environment {target.env_name!r} has no Graph API simulator to read replies from"
            )
        self.reader = ReplyReader(client, target.graph_api_url)
        # Quiet this long after the last message before the prompt comes back (a reply comes in bursts).
        self.settle = settle if settle is not None else max(0.3, target.no_reply_seconds / 2)
        self.hygiene = hygiene if hygiene is not None else HygieneLog()
        self.transcript = Transcript()
        self.actors: dict[str, ChatActor] = {}
        self.users: dict[str, WhatsAppUser] = {}
        self.cursors: dict[str, int] = {}
        self.menus: dict[str, OutboundMessage] = {}  # each actor's last interactive message
        self.turns: list[Turn] = []
        self.current = ""
        self.ours: set[str] = set()  # ids the session's fresh users were told about: this conversation's
        self.start_seq = self.reader.last_seq()
        self._locks = ExitStack()

    # --- actors ------------------------------------------------------------------------------------

    def join(self, role: str, phone: str | None = None, identity: UserKind = "phone", name: str = "") -> str:
        """Become ``role`` (an actor already played, or a new one) and show what it got meanwhile."""
        played = next((a for a in self.actors.values() if a.role == role and phone in (None, a.phone)), None)
        self.current = played.name if played else self._add(role, phone, identity, name)
        self.console.print(Text(f"── now {self._label(self.current)} ──", style="bold magenta"))
        self.poll(first_wait=0.0)
        return self.current

    def _add(self, role: str, phone: str | None, identity: UserKind, display_name: str) -> str:
        seeded = role != "buyer"
        number = phone or (DEFAULT_STAFF[role] if seeded else self.numbers.next())
        same_role = sum(a.role == role for a in self.actors.values())
        name = f"{role}{same_role + 1}" if same_role else role
        actor = ChatActor(name, role, number, seeded, identity, display_name or "Test User")
        if seeded and role in STATEFUL_ROLES:  # one conversation at a time per seeded driver / vendor
            alone = Journey.model_construct(actors={name: Actor(role=role, phone=number)})  # type: ignore[arg-type]
            self._locks.enter_context(seeded_actor_locks(alone, self.target.webhook_url))
        self.actors[name] = actor
        self.users[name] = WhatsAppUser(
            self.target, self.client, number, role=name, name=actor.display_name,
            transcript=self.transcript, kind=identity,
        )  # fmt: skip
        self.cursors[name] = self.start_seq  # a staff member joining later sees what came since the start
        return name

    def _label(self, name: str) -> str:
        user, actor = self.users[name], self.actors[name]
        who = user.phone if user.identity.phone_visible else f"@{user.identity.username}"
        return f"{name} {who}" + (" (seeded staff)" if actor.seeded else "")

    def prompt(self) -> str:
        return f"{self.current} › "

    # --- reading ------------------------------------------------------------------------------------

    def poll(self, first_wait: float) -> int:
        """Show what arrived for every actor: wait up to ``first_wait`` s for a first message, then until
        nothing came for ``settle`` s. Returns how many messages were shown."""
        started = last = time.monotonic()
        shown = 0
        while True:
            arrived = self._fetch()
            for name, message in arrived:
                shown += self._show(name, message)
            now = time.monotonic()
            if arrived:
                last = now
            waiting_first = shown == 0 and now - started < first_wait
            if not waiting_first and now - last >= (self.settle if shown else 0):
                return shown
            time.sleep(_TICK)

    def _fetch(self) -> list[tuple[str, OutboundMessage]]:
        found = []
        for name, user in self.users.items():
            for message in self.reader.poll(user.phone, self.cursors[name], 0):
                self.cursors[name] = max(self.cursors[name], message.seq)
                found.append((name, message))
        return sorted(found, key=lambda item: item[1].seq)

    def _show(self, name: str, message: OutboundMessage) -> int:
        actor = self.actors[name]
        said = " ".join((message.visible_text, *message.button_ids, *message.row_ids))
        ids = set(REFERENCE_ID.findall(said))
        if not actor.seeded:
            self.ours |= ids
        elif another_conversations(ids, self.ours):
            self.transcript.note(
                name, f"hidden: seq {message.seq} is another conversation's ({', '.join(ids)})"
            )
            return 0
        turn = next((t for t in reversed(self.turns) if t.seq_before < message.seq), None)
        latency = (message.received_at - turn.sent_at) * 1000 if turn else None
        if turn is not None:
            turn.replies.append(Received(name, message, latency))
        if message.button_ids or message.row_ids:
            self.menus[name] = message
        known_before = len(self.hygiene.known)
        violations = self.hygiene(message)
        known = self.hygiene.known[known_before:]
        self.transcript.add(
            TranscriptEntry(
                message.received_at, self._label(name), "out", message.summary(), reply_ms=latency
            )
        )
        self.console.print(render_message(message, name, latency, violations, known))
        return 1

    # --- acting -------------------------------------------------------------------------------------

    def handle(self, command: commands.Command) -> bool:
        """Apply one parsed line; False when the session should end."""
        if isinstance(command, commands.Quit):
            return False
        if isinstance(command, commands.Problem):
            self.say(command.message)
        elif isinstance(command, commands.Help):
            self.console.print(Text(commands.HELP, style="dim"))
        elif isinstance(command, commands.Refresh):
            if not self.poll(first_wait=0.0):
                self.console.print(Text("(nothing new)", style="dim"))
        elif isinstance(command, commands.SwitchActor):
            self.join(command.role, command.phone)
        elif isinstance(command, commands.SendText):
            self._act("send", command.text, lambda user: user.send_text(command.text))
        elif isinstance(command, commands.Pick):
            self._pick(command)
        elif isinstance(command, commands.ShareLocation):
            place = (command.latitude, command.longitude, command.name)
            self._act(
                "share", place, lambda u: u.share_location(command.latitude, command.longitude, command.name)
            )
        elif isinstance(command, commands.SendImage):
            self._act("send_media", "image", lambda user: user.send_media("image", command.caption))
        return True

    def say(self, problem: str) -> None:
        self.console.print(Text(f"✗ {problem}", style="bold red"))

    def _pick(self, pick: commands.Pick) -> None:
        menu = self.menus.get(self.current)
        if menu is None:
            shown = pick.typed
            self.say(
                f"no buttons or list on screen to choose {shown} from; send it as text with /text {shown}"
            )
            return
        options = choices(menu)
        if pick.number is not None:
            if not 1 <= pick.number <= len(options):
                what = "buttons" if menu.button_ids else "rows"
                self.say(f"the last menu has {len(options)} {what}: choose 1-{len(options)}")
                return
            tap_id, title = options[pick.number - 1]
        else:
            tap_id, title = next((o for o in options if o[0] == pick.tap_id), (str(pick.tap_id), ""))
        user = self.users[self.current]
        user.last_reply = menu  # the tap answers this message (its wamid is the context)
        if menu.button_ids:
            self._act("tap", tap_id, lambda u: u.tap_button(tap_id, title), title)
        else:
            self._act("choose", tap_id, lambda u: u.choose_row(tap_id, title), title)

    def _act(
        self, action: str, value: object, send: Callable[[WhatsAppUser], object], title: str = ""
    ) -> None:
        self.poll(first_wait=0.0)  # what came meanwhile belongs to the previous step
        turn = Turn(self.current, action, value, time.time(), self.reader.last_seq(), title)
        try:
            turn.sent_at = time.time()
            send(self.users[self.current])
        except ReplyError as exc:
            self.say(exc.title)
            return
        except httpx.HTTPError as exc:
            self.say(f"could not reach the bot's webhook: {exc}")
            return
        self.turns.append(turn)
        if not self.poll(first_wait=self.target.reply_seconds):
            self.console.print(Text(f"(no reply within {self.target.reply_seconds:g} s)", style="yellow"))
        turn.settled_at = time.time()  # what comes later came while the engineer was thinking

    # --- the loop -----------------------------------------------------------------------------------

    def run(self, read_line: ReadLine) -> None:
        """Read lines until /quit or the end of input, then wait for stragglers."""
        self.console.print(Text(commands.HELP, style="dim"))
        try:
            while True:
                line = read_line(self.prompt())
                if line is None:
                    break
                menu = self.menus.get(self.current)
                tap_ids = (*menu.button_ids, *menu.row_ids) if menu else ()
                try:
                    if not self.handle(commands.parse(line, tap_ids)):
                        break
                except KeyboardInterrupt:  # Ctrl-C while waiting for replies: end, keep the transcript
                    break
            # Stragglers, as long as a journey's run waits for them: the recording must expect them too.
            self.poll(first_wait=self.target.no_reply_seconds)
        finally:
            self._locks.close()
