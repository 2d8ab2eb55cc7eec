"""All repositories over one database, created together at start."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from storage.alerts import AlertLedger
from storage.audit import AuditRepository
from storage.channels import ChannelRepository
from storage.clients import ClientRepository
from storage.database import Database
from storage.deliveries import DeliveryRepository
from storage.digest_runs import DigestRunRepository
from storage.events import EventRepository
from storage.houston_requests import HoustonRequestRepository
from storage.houston_threads import HoustonThreadRepository
from storage.metrics import MetricsRepository
from storage.notes import NoteRepository
from storage.outliers import OutlierRepository
from storage.rules import RuleRepository
from storage.snoozes import SnoozeRepository
from storage.workspaces import WorkspaceRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Storage:
    database: Database
    events: EventRepository
    deliveries: DeliveryRepository
    rules: RuleRepository
    workspaces: WorkspaceRepository
    clients: ClientRepository
    metrics: MetricsRepository
    notes: NoteRepository
    outliers: OutlierRepository
    channels: ChannelRepository
    audit: AuditRepository
    digest_runs: DigestRunRepository
    houston_threads: HoustonThreadRepository
    houston_requests: HoustonRequestRepository
    alerts: AlertLedger
    snoozes: SnoozeRepository

    @classmethod
    def create(
        cls,
        database: Database,
        *,
        retention_days: int,
        delivery_retention_days: int | None = None,
        houston_retention_days: int | None = None,
    ) -> Storage:
        """Create the repositories. Events are kept `retention_days`; deliveries as long unless given;
        Houston threads three times as long unless given. Each document expires by a TTL index."""
        retention = timedelta(days=retention_days)
        delivery_retention = timedelta(days=delivery_retention_days) if delivery_retention_days else retention
        houston_retention = timedelta(days=houston_retention_days) if houston_retention_days else retention * 3
        return cls(
            database=database,
            events=EventRepository(database, retention=retention),
            deliveries=DeliveryRepository(database, retention=delivery_retention),
            rules=RuleRepository(database),
            workspaces=WorkspaceRepository(database),
            clients=ClientRepository(database),
            metrics=MetricsRepository(database),
            notes=NoteRepository(database),
            outliers=OutlierRepository(database),
            channels=ChannelRepository(database),
            audit=AuditRepository(database),
            digest_runs=DigestRunRepository(database),
            houston_threads=HoustonThreadRepository(database, retention=houston_retention),
            houston_requests=HoustonRequestRepository(database),
            # Alert messages expire with the deliveries that created them.
            alerts=AlertLedger(database, retention=delivery_retention),
            snoozes=SnoozeRepository(database),
        )

    async def ensure_indexes(self) -> None:
        for repository in (
            self.events,
            self.deliveries,
            self.rules,
            self.workspaces,
            self.clients,
            self.metrics,
            self.notes,
            self.outliers,
            self.channels,
            self.audit,
            self.digest_runs,
            self.houston_threads,
            self.houston_requests,
            self.alerts,
            self.snoozes,
        ):
            await repository.ensure_indexes()
        logger.info("Indexes are in place (database %s)", self.database.db.name)
