"""The CDS Hooks 2.0.1 service as a FastAPI application: `create_app(settings)`."""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cds._version import __version__
from cds.audit.records import AuditSink
from cds.contract.assessment import Profile
from cds.paths import rules_dir
from cds.service import logs
from cds.service.catalog import services
from cds.service.guard import Authenticator, Guard, Verifier
from cds.service.hooks import CoreEngine, Engine, HookRunner
from cds.service.models import FeedbackRequest, HookRequest
from cds.service.orders import load_strengths
from cds.service.outcomes import operation_outcome, unauthorized
from cds.service.routes import Deps, build_router
from cds.service.settings import Settings

log = logging.getLogger("cds.service")

GC_YOUNG_THRESHOLD = 50_000


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    audit: AuditSink | None = None,
    verifier: Verifier | None = None,
    issuer_fhir_servers: Mapping[str, frozenset[str]] | None = None,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the service. The keyword arguments replace the real engine, audit store, JWT verifier
    (with the FHIR servers of its issuers) or HTTP transport (tests); by default they come from
    `settings`.
    """
    settings.check()
    logs.install()
    defer_replay = False
    if audit is None:
        from cds.audit.store import AuditStore

        store = AuditStore(settings.database_url)
        audit = store
        if settings.auth and verifier is None:
            verifier, issuer_fhir_servers = _jwt_verifier(settings, store)
            defer_replay = True  # the replay cache is the audit store's: one transaction per call
    if settings.auth and verifier is None:
        raise ValueError("authentication is on but no JWT verifier was given")
    if not settings.auth:
        verifier = None
        log.warning(
            "CDS_AUTH=off: client JWTs are NOT verified; any caller can request advice and post feedback. "
            "Use only for local testing."
        )

    if settings.as_of is not None:
        log.warning(
            "CDS_AS_OF=%s: every assessment is made as of this date, not today. "
            "Use only for demonstrations and replays of fixed records.",
            settings.as_of.isoformat(),
        )

    engine = engine or CoreEngine(as_of=settings.as_of)
    auth = Authenticator(
        verifier,
        settings.public_base_url,
        dict(issuer_fhir_servers or {}),
        settings.fhir_servers,
        defer_replay=defer_replay,
    )
    deps = Deps(
        settings=settings,
        engine=engine,
        audit=audit,
        auth=auth,
        runner=HookRunner(
            engine, settings.profile, load_strengths(rules_dir() / "product-strengths.yaml"), fhir_transport
        ),
        services=services(shared_order_id=settings.shared_order_id),
    )
    app = FastAPI(
        title="ketamine-cds CDS Hooks service",
        version=__version__,
        description="CDS Hooks 2.0.1 services for ketamine and esketamine in treatment-resistant depression.",
        docs_url="/docs",
        redoc_url=None,
        # A redirect for a trailing slash would be built from the request's Host header.
        redirect_slashes=False,
    )
    app.include_router(build_router(deps))
    _install_error_handlers(app)
    _install_openapi(app)
    # Middleware added last runs first: CORS outermost so that a 401/413 still reaches a browser client.
    app.add_middleware(
        Guard,
        auth=auth,
        auth_discovery=settings.auth_discovery,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    return app


def _jwt_verifier(settings: Settings, store: Any) -> tuple[Verifier, dict[str, frozenset[str]]]:
    """The JWT verifier for the configured trusted issuers, and the FHIR servers of each."""
    from cds.security.jwt import JwtVerifier, load_trusted_issuers

    assert settings.trusted_issuers is not None  # Settings.check() guarantees it when auth is on
    issuers = load_trusted_issuers(settings.trusted_issuers)
    verifier: Verifier = JwtVerifier(issuers, store.replay_cache())
    return verifier, {i.iss: frozenset(i.fhir_servers) for i in issuers}


def app_from_env() -> FastAPI:
    """Factory for uvicorn (`cds.service.app:app_from_env`, factory=True): one app per worker."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    app = create_app(settings)
    warm_up(CoreEngine(as_of=settings.as_of), settings.profile)
    return app


def warm_up(engine: Engine, profile: Profile) -> None:
    """Before the first call: load the knowledge and import the whole assessment path (an assessment
    of an empty record), then freeze what is loaded out of the garbage collector's way. Without the
    freeze every full collection walks the rules, value sets and modules again: measured 2.5 ms of
    CPU on each call of the bench's reference chart (about a fifth of the service's work). The young
    generation's threshold is raised too (see below)."""
    try:
        engine.evaluate(
            [{"resourceType": "Patient", "id": "warm-up", "birthDate": "1970-01-01"}], profile=profile
        )
    except Exception as exc:
        # The knowledge does not load: /health and /ready say so; the calls will answer 500.
        log.error("warm-up assessment failed: %s", type(exc).__name__)
    gc.collect()
    gc.freeze()
    # A call allocates about 100k objects (the parsed prefetch, facts, models), almost none in
    # cycles: at the default 700 the young generation was collected 4 times a call (0.4 ms).
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 401:
            return unauthorized()
        return operation_outcome(exc.status_code, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return operation_outcome(400, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()])

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s: %s", request.url.path, type(exc).__name__)
        return operation_outcome(500, "internal error")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)


def _install_openapi(app: FastAPI) -> None:
    """Request bodies are parsed by hand (see routes.py); publish their schemas for /docs anyway."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default()
        _, defs = models_json_schema(
            [(HookRequest, "validation"), (FeedbackRequest, "validation")],
            ref_template="#/components/schemas/{model}",
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
