"""The inbox's broker adapters (aio-pika lives here and in ``main`` only).

- ``events.EventHub``: this replica's queue on the notifications fanout, handing each tenant's live
  events to that tenant's browsers; ``announce`` publishes one to every replica.
- ``suggestions.SuggestionClient``: the ``SuggestReply`` RPC to ai-suggester (direct reply-to).
"""

from inbox_api.adapters.events import EventHub, LiveEvent
from inbox_api.adapters.suggestions import SuggestionClient

__all__ = ["EventHub", "LiveEvent", "SuggestionClient"]
