"""Boots what a test session talks to: the local stack, or just the Graph API simulator for a remote bot."""

from easymo_qa.stack.session import RunningStack, start_stack
from easymo_qa.target import Target

__all__ = ["RunningStack", "Target", "start_stack"]
