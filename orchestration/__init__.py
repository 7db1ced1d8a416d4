"""Orchestration: process definitions users write as data, a durable step engine, the transactional outbox
with NATS JetStream and signed webhooks, an idempotent inbox, e-mail notifications and documents.

Layering: imports promessa (errors) and supplydata (the SupplyDelta a transfer receipt becomes); never
the order book, the API or the server. The order book hands its open transaction to the engine
(``conn=``) so outbox rows are written with the order change.
"""

from .definitions import (
    DEFAULT_SYSTEMS,
    PROCESSES_DIR,
    AssignmentRule,
    Catalog,
    ProcessDefinition,
    Step,
    load_definition,
    parse_assignment,
    parse_definition,
    ready_catalog,
)
from .documents import DOCUMENT_KINDS, Documents
from .engine import NotificationRule, Orchestrator, Outcome
from .outbox import (
    EmailPublisher,
    OutboxRelay,
    Publisher,
    RelayReport,
    RoutingPublisher,
    WebhookPublisher,
    sign,
    verify_signature,
)
from .records import Clock, Effect, EventKind, InboundUpdate, JeopardyAlert, Message, OrderEvent, SystemClock
from .schemas import check_message, schema
from .store import Changes, DocumentRecord, Instance, OrchestrationStore, PostgresStore, SqliteStore, open_store

__all__ = [
    "DEFAULT_SYSTEMS", "PROCESSES_DIR", "AssignmentRule", "Catalog", "ProcessDefinition", "Step", "load_definition",
    "parse_assignment", "parse_definition", "ready_catalog", "DOCUMENT_KINDS", "Documents", "NotificationRule", "Orchestrator",
    "Outcome", "EmailPublisher", "OutboxRelay", "Publisher", "RelayReport", "RoutingPublisher", "WebhookPublisher", "sign",
    "verify_signature", "Clock", "Effect", "EventKind", "InboundUpdate", "JeopardyAlert", "Message", "OrderEvent", "SystemClock",
    "check_message", "schema", "Changes", "DocumentRecord", "Instance", "OrchestrationStore", "PostgresStore", "SqliteStore",
    "open_store",
]
