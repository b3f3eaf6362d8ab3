"""Journeys as data: YAML conversations (actors, steps, expectations), loaded with line marks and run."""

from easymo_qa.conversation.loader import JourneyError, load_journey
from easymo_qa.conversation.model import Journey
from easymo_qa.conversation.runner import JourneyRunner, JourneyStepFailed

__all__ = ["Journey", "JourneyError", "JourneyRunner", "JourneyStepFailed", "load_journey"]
