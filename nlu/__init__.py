"""gridbot's natural-language understanding: intents, entities, urgency and dispute tier."""

from nlu.pipeline import INTENTS, IntentModel
from nlu.service import get_model

__all__ = ["INTENTS", "IntentModel", "get_model"]
