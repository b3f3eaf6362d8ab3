"""Where the engineer's lines come from: prompt_toolkit on a terminal (history, line editing), plain lines
from a pipe (how tests and scripts drive a chat: no prompt, each line echoed after the prompt)."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.text import Text

from easymo_qa.chat.session import ReadLine


def piped_lines(stream: TextIO, console: Console) -> ReadLine:
    """Read ``stream`` line by line; echo each after the prompt so the output reads as a conversation."""

    def read(prompt: str) -> str | None:
        line = stream.readline()
        if not line:
            return None
        console.print(Text(prompt, style="bold") + Text(line.rstrip("\n")))
        return line.rstrip("\n")

    return read


def terminal_lines() -> ReadLine:
    """A prompt_toolkit prompt with the session's history (up arrow); Ctrl-D or Ctrl-C ends the chat."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory

    session: PromptSession[str] = PromptSession(history=InMemoryHistory())

    def read(prompt: str) -> str | None:
        try:
            return session.prompt(prompt)
        except (EOFError, KeyboardInterrupt):
            return None

    return read
