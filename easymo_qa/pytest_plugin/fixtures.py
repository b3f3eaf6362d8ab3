"""The plugin's fixtures: the environment, the target, HTTP client and numbers, transcripts, users."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from easymo_qa.conversation.pytest_items import TRANSCRIPT_KEY
from easymo_qa.envs import Environment
from easymo_qa.pytest_hygiene import hygiene_observer
from easymo_qa.pytest_plugin import CALL_FAILED_KEY, ENV_KEY, STATE_KEY
from easymo_qa.target import Target
from easymo_qa.whatsapp.numbers import TestNumberPool
from easymo_qa.whatsapp.transcript import Transcript
from easymo_qa.whatsapp.user import WhatsAppUser


@pytest.fixture(scope="session")
def qa_env(pytestconfig: pytest.Config) -> Environment:
    """The loaded environment file."""
    return pytestconfig.stash[ENV_KEY]


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """Endpoints and credentials of the system under test (boots the local stack on first use)."""
    return pytestconfig.stash[STATE_KEY].ensure_target()


@pytest.fixture(scope="session")
def http_client(pytestconfig: pytest.Config) -> httpx.Client:
    """The session's keep-alive HTTP client (never follows redirects: a webhook must answer)."""
    return pytestconfig.stash[STATE_KEY].client()


@pytest.fixture(scope="session")
def number_pool(pytestconfig: pytest.Config) -> TestNumberPool:
    """Fresh numbers from the environment's reserved test range, unique across xdist workers."""
    return pytestconfig.stash[STATE_KEY].numbers()


@pytest.fixture
def transcript(request: pytest.FixtureRequest) -> Iterator[Transcript]:
    """The conversation of this test, attached to its report (and to Allure when it is on)."""
    log = Transcript()
    request.node.stash[TRANSCRIPT_KEY] = log
    yield log
    if log.entries:
        _attach_to_allure(request.config.stash[STATE_KEY].redactor(log.render()))


def _attach_to_allure(text: str) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is optional for users of the plugin
        return
    allure.attach(text, name="transcript", attachment_type=allure.attachment_type.TEXT)


@pytest.fixture
def new_user(
    request: pytest.FixtureRequest,
    target: Target,
    http_client: httpx.Client,
    number_pool: TestNumberPool,
    transcript: Transcript,
) -> Iterator[Callable[..., WhatsAppUser]]:
    """Factory: ``new_user(role="buyer", name="Aimée")`` → a simulated user with a fresh test number.

    Strict at the end: when the test passed, every reply each user got must have been claimed by one
    of its checks (an extra message, or one meant for another user, fails the test in teardown).
    """
    on_reply = hygiene_observer(request.node)
    made: list[WhatsAppUser] = []

    def make(role: str = "user", name: str = "Test User") -> WhatsAppUser:
        user = WhatsAppUser(
            target,
            http_client,
            number_pool.next(),
            role=role,
            name=name,
            transcript=transcript,
            on_reply=on_reply,
        )
        made.append(user)
        return user

    yield make
    if made and not request.node.stash.get(CALL_FAILED_KEY, False):
        deadline = time.monotonic() + target.no_reply_seconds
        for user in made:
            user.expect_nothing_unclaimed(max(0.0, deadline - time.monotonic()))


@pytest.fixture
def user(new_user: Callable[..., WhatsAppUser]) -> WhatsAppUser:
    """One simulated WhatsApp user."""
    return new_user()


@pytest.fixture(scope="session")
def reports_dir(pytestconfig: pytest.Config) -> Path:
    """Where this session's reports go (``--reports-dir``, else the layout's; created)."""
    path = pytestconfig.stash[STATE_KEY].reports_dir
    path.mkdir(parents=True, exist_ok=True)
    return path
