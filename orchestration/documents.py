"""Documents attached to an order or a step (packing list, certificate, invoice...), stored with a SHA-256
checksum; every attach, view and download is audited (who, when)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from promessa.errors import ConflictError, ValidationError

from .records import Clock
from .store import DocumentRecord, OrchestrationStore

#: Kinds of document an order or step may carry.
DOCUMENT_KINDS: frozenset[str] = frozenset({"packing_list", "certificate", "invoice", "credit_note", "delivery_note",
                                            "customs", "purchase_order", "other"})

#: Largest document accepted.
MAX_BYTES = 20 * 1024 * 1024


class Documents:
    """Attach, view and download documents with their audit trail over an ``OrchestrationStore``."""

    def __init__(self, store: OrchestrationStore, *, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def attach(self, *, order: str, kind: str, filename: str, content: bytes, who: str, step: str | None = None,
               content_type: str = "application/octet-stream", conn: Any = None) -> DocumentRecord:
        """Store ``content`` for ``order`` (and ``step``) with its SHA-256; audited as ``attach`` by ``who``.
        Returns the record; ValidationError names the field (unknown kind, empty or too large content, no author)."""
        if kind not in DOCUMENT_KINDS:
            raise ValidationError(f"unknown document kind (known: {', '.join(sorted(DOCUMENT_KINDS))})", field="kind", value=kind)
        if not who:
            raise ValidationError("every document action names who did it", field="who", value=who)
        if not order:
            raise ValidationError("a document belongs to an order", field="order", value=order)
        if not content:
            raise ValidationError("a document needs content", field="content", value=b"")
        if len(content) > MAX_BYTES:
            raise ValidationError(f"larger than {MAX_BYTES} bytes", field="content", value=len(content))
        if not filename or "/" in filename or "\\" in filename:
            raise ValidationError("a plain file name (no directories)", field="filename", value=filename)
        now = self.clock.now()
        doc = DocumentRecord(doc_id=uuid.uuid4().hex, order=order, step=step, kind=kind, filename=filename, content_type=content_type,
                             sha256=hashlib.sha256(content).hexdigest(), size=len(content), attached_by=who, attached_at=now)
        with self.store.transaction(conn) as c:
            self.store.put_document(doc, content, conn=c)
            self.store.audit(doc.doc_id, "attach", who, now, conn=c)
        return doc

    def view(self, doc_id: str, *, who: str, conn: Any = None) -> DocumentRecord:
        """The document's record (metadata); audited as ``view`` by ``who``."""
        if not who:
            raise ValidationError("every document action names who did it", field="who", value=who)
        with self.store.transaction(conn) as c:
            doc = self.store.document(doc_id, conn=c)
            self.store.audit(doc_id, "view", who, self.clock.now(), conn=c)
        return doc

    def download(self, doc_id: str, *, who: str, conn: Any = None) -> tuple[DocumentRecord, bytes]:
        """The record and the bytes, checked against the stored SHA-256 (ConflictError when they differ);
        audited as ``download`` by ``who``."""
        if not who:
            raise ValidationError("every document action names who did it", field="who", value=who)
        with self.store.transaction(conn) as c:
            doc = self.store.document(doc_id, conn=c)
            content = self.store.document_content(doc_id, conn=c)
            if hashlib.sha256(content).hexdigest() != doc.sha256:
                raise ConflictError(f"document {doc_id!r}: content does not match its SHA-256 {doc.sha256}",
                                    hint="the stored copy is damaged; attach it again")
            self.store.audit(doc_id, "download", who, self.clock.now(), conn=c)
        return doc, content

    def of_order(self, order: str, *, conn: Any = None) -> list[DocumentRecord]:
        """The documents of an order (not audited: a listing shows no content)."""
        return self.store.documents_of(order, conn=conn)

    def audit(self, doc_id: str, *, conn: Any = None) -> list[tuple[str, str, Any]]:
        """(action, who, at) of every attach, view and download, oldest first."""
        return self.store.audit_trail(doc_id, conn=conn)
