"""The tenant of one Houston run: the user, their workspace, and the clients they may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class TenantContext:
    """The trusted facts of one run, built by the Slack handler from the installation.

    The agent passes it to tools and middleware as the run's context, never in the messages, so the model
    can neither read nor change it. `allowed_client_ids` is None in an agency workspace, where every client
    of `agency_id` is allowed, and contains the one client of a client workspace. `today` is the asker's local
    date.
    """

    team_id: str
    agency_id: str
    allowed_client_ids: frozenset[str] | None
    active_client_id: str | None
    user_id: str
    today: date

    def allows(self, client_id: str) -> bool:
        """Tell whether this workspace may see the data of `client_id` of its own agency."""
        if self.allowed_client_ids is None:
            return bool(client_id)
        return client_id in self.allowed_client_ids
