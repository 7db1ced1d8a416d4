"""promessa's HTTP app: ``create_app(settings)`` (``promessa serve`` runs it with uvicorn).

The routes, errors and middleware are in ``api/``; the engine (snapshot, live pair, order book,
models, warm-up) is opened by ``promessa.app.Engine.open`` in the app's lifespan and closed after.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api.app import attach, build_app, detach
from promessa.app import Engine
from promessa.config import Settings


def create_app(settings: Settings | None = None, *, snapshot=None, wallclock=None) -> FastAPI:
    """The API app. `snapshot` (a loaded Snapshot) overrides ``settings.snapshot.path`` (tests);
    `wallclock` (``() -> datetime``) replaces the wall clock temporary reservations expire on (tests).

    On start-up the lifespan opens the engine and, when ``app.state.announce`` is set (``promessa
    serve`` sets it), calls it with the engine to say the server is ready."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = Engine.open(settings, snapshot=snapshot, metrics=app.state.metrics, wallclock=wallclock)
        try:
            attach(app, engine)
            announce = getattr(app.state, "announce", None)
            if announce is not None:
                announce(engine)
            yield
        finally:
            detach(app)
            engine.close()

    return build_app(settings, lifespan=lifespan)
