"""Message hygiene: the seed's UX message audit (§1.1) as rules every message the bot sends must pass.

``leaks`` (internals shown to the user) and ``conventions`` (easyMO's emojis, a way back home) register
their rules on a ``registry.Registry``; ``log`` has the per-test ``HygieneLog`` and the known issues.
"""

from easymo_qa.hygiene.conventions import CONVENTIONS
from easymo_qa.hygiene.leaks import LEAKS
from easymo_qa.hygiene.registry import Registry

RULES = Registry(LEAKS | CONVENTIONS)  # every rule, in the order reports list them
