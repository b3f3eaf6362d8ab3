"""How much load an environment may take, decided before any traffic.

A target whose webhook and simulators are on loopback is this machine's own (the local stack, or a bot
started next to the harness): no cap unless the environment file sets ``load.max_users``. Anything off
loopback is a *shared* environment (staging): it is loaded only when its file sets ``load.max_users``,
and never with more users than that. Production is refused earlier, in :mod:`easymo_qa.load.stack`.

The policy travels from the master to its workers as JSON (beside the target), so a worker applies the
same rules without reading the environment file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from easymo_qa.envs.model import Environment
from easymo_qa.load.stack import is_loopback_url


class LoadPolicyError(RuntimeError):
    """The run asks for more than the environment allows; the message is one line for the console."""


@dataclass(frozen=True)
class LoadPolicy:
    """The load rules of one environment file."""

    env_file: str
    max_users: int | None = None  # None: no cap (only for a target on loopback)
    shared: bool = False  # the webhook or the simulators are off loopback
    verify_tls: bool = True  # verify the simulators' certificate (SimulatorsSettings.verify_tls)

    def check_users(self, asked: int | None) -> None:
        """Refuse a run (or a shape's tick) asking for more users than the environment's cap."""
        if self.max_users is not None and asked is not None and asked > self.max_users:
            raise LoadPolicyError(
                f"{self.env_file} allows at most {self.max_users} load users (load.max_users); "
                f"this run asks for {asked}"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadPolicy:
        return cls(**json.loads(text))


def policy_for(env: Environment, env_file: Path) -> LoadPolicy:
    """The environment's policy; a shared environment without ``load.max_users`` is refused."""
    sims = env.simulators
    urls = [env.webhook.url] if env.stack != "local" else []
    if sims is not None:  # deployed (url), or started here on the host the file names
        host = sims.host or ""
        urls.append(sims.url or (f"http://[{host}]" if ":" in host else f"http://{host}"))
    shared = any(not is_loopback_url(url) for url in urls)
    if shared and env.load.max_users is None:
        raise LoadPolicyError(f"set load.max_users in {env_file} to load a shared environment")
    return LoadPolicy(
        env_file=str(env_file),
        max_users=env.load.max_users,
        shared=shared,
        verify_tls=sims.verify_tls if sims is not None else True,
    )
