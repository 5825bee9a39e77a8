"""Settings from the environment: the seed's variables (SERVER_PORT, DATABASE_URL, REDIS_URL,
JWT_SECRET, LOG_LEVEL) and a few of our own, read once by the composition root.

No URL means the embedded default: SQLite in a file, steps run in-process, events on an
in-memory bus. DATABASE_URL accepts the seed's form, ``postgres://user:password@host:5432/db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    server_port: int = Field(8080, ge=1, le=65535)
    database_url: str | None = Field(
        None, description="PostgreSQL URL; unset: SQLite in sqlite_path (the embedded default)"
    )
    sqlite_path: Path = Path("workflow-engine.db")
    redis_url: str | None = None
    jwt_secret: SecretStr | None = None
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    handler_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Modules of service-task handlers, comma-separated"
    )
    database_pool_size: int = Field(10, ge=1, le=200)
    redis_prefix: str = Field(
        "wf",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Prefix of every Redis key and channel (arq queue, job ids, events): "
        "several deployments, or test runs, can share one Redis",
    )
    worker_concurrency: int = Field(
        32, ge=1, le=1000, description="arq jobs one worker process runs at once (max_jobs)"
    )
    worker_job_timeout: float = Field(
        120.0,
        gt=1,
        le=86_400,
        description="Seconds an arq job may run (a step's timeout is capped to it). A worker "
        "killed mid-job leaves its job to another worker only after this + 10 s: keep it modest",
    )
    worker_poll_delay: float = Field(
        0.01, gt=0, le=5, description="Seconds between a worker's polls of the queue (arq: 0.5)"
    )
    worker_sweep_interval: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds between sweeps: pending jobs and timers due soon are enqueued "
        "again from the database (Redis lost them), jobs of ended instances closed",
    )
    worker_eager: bool = Field(
        True,
        description="A worker runs the next service tasks of an instance at once, in the same "
        "arq job, when it has their handlers (each transition still commits first)",
    )

    # --- authentication (server/auth) ---------------------------------------------------------
    jwt_issuer: str = Field(
        "workflow-engine", min_length=1, description="`iss` of the access tokens this server issues"
    )
    jwt_audience: str = Field(
        "workflow-engine", min_length=1, description="`aud` the access tokens must carry"
    )
    jwt_private_key_file: Path | None = Field(
        None,
        description="PEM private key (RSA: RS256, P-256 EC: ES256) to sign access tokens with; "
        "unset: HS256 with JWT_SECRET",
    )
    access_token_minutes: int = Field(15, ge=1, le=1440, description="Access token lifetime")
    refresh_token_days: int = Field(14, ge=1, le=365, description="Refresh token lifetime")
    auth_revocation_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a process trusts that a user is enabled and a session not logged "
        "out before reading it again (0: every request): the delay of revocation elsewhere",
    )
    oidc_issuer: str | None = Field(
        None, description="An external OpenID Connect issuer whose access tokens are accepted"
    )
    oidc_jwks_url: str | None = Field(
        None, description="Its JWKS; unset: found by discovery at OIDC_ISSUER/.well-known/..."
    )
    oidc_audience: str | None = Field(None, description="`aud` of its tokens (JWT_AUDIENCE)")
    oidc_roles_claim: str = Field(
        "roles", description="Dotted path of the roles claim (Keycloak: realm_access.roles)"
    )
    oidc_groups_claim: str = "groups"
    oidc_username_claim: str = "preferred_username"
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other origins allowed to open websockets (and for CORS), comma-separated; "
        "a page served by this server (the dashboard at /) and clients that send no Origin "
        "are always accepted",
    )
    login_max_failures_per_user: int = Field(5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(20, ge=1, le=100_000)
    login_failure_window_seconds: int = Field(
        300, ge=1, le=86_400, description="Failed logins count within this sliding window"
    )
    demo: bool = Field(
        False,
        description="The demo (serve --demo, make run): a made-up signing secret when none is "
        "set, and the user admin / password123. Never in production",
    )

    # --- encryption at rest of sensitive variables (server/crypto.py, server/keys.py) ----------
    encryption_keys: SecretStr | None = Field(
        None,
        description="AES-256 keys for sensitive variables, `kid1:base64key,kid2:base64key`: "
        "the first seals new values, all of them open old ones (rotation)",
    )
    encryption_key_file: Path | None = Field(
        None, description="A file holding ENCRYPTION_KEYS' text (e.g. a mounted secret)"
    )

    # --- the GraphQL surface and TLS (docs/graphql.md, Hardening) ------------------------------
    graphql_introspection: bool | None = Field(
        None,
        description="Answer introspection queries (__schema, __type); unset: on in the embedded "
        "mode, off with DATABASE_URL (production)",
    )
    graphql_max_batch: int = Field(
        0,
        ge=0,
        le=100,
        description="Operations one HTTP request may batch as a JSON array; 0: batches refused",
    )
    tls_cert_file: Path | None = Field(
        None, description="PEM certificate (chain) for uvicorn to serve HTTPS with; with the key"
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of TLS_CERT_FILE")

    # --- metrics (server/metrics.py, docs/metrics.md) ------------------------------------------
    # PROMETHEUS_MULTIPROC_DIR is read by prometheus_client itself, when it is imported: it is
    # an environment variable of the process, not a setting (see docs/metrics.md)
    metrics_sample_interval: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="Seconds between two readings of the gauges sampled from the database "
        "(workflow_instances_active, ..._incidents_open, ..._outbox_lag_seconds, ...) and the "
        "connection pool (database_connections), in each API and worker process",
    )

    # --- health and graceful shutdown (server/health.py, server/shutdown.py, workers/ops_http.py,
    # docs/health-and-shutdown.md) ---------------------------------------------------------------
    shutdown_grace_seconds: int = Field(
        20,
        ge=0,
        le=3600,
        description="On SIGTERM: seconds in-flight HTTP requests (serve) or running jobs "
        "(worker) get to finish; then they are cancelled (a worker's jobs stay pending and run "
        "again elsewhere). Keep it below Kubernetes' terminationGracePeriodSeconds",
    )
    shutdown_delay_seconds: float = Field(
        0.0,
        ge=0,
        le=300,
        description="On SIGTERM, serve keeps accepting this long while /health/ready answers "
        "503, so that load balancers stop sending before it stops listening",
    )
    worker_metrics_port: int = Field(
        9091,
        ge=0,
        le=65535,
        description="Port of a worker's ops HTTP server (/metrics, /health/live, /health/ready); "
        "0: none",
    )

    # --- history retention (server/services/retention.py, docs/data-care.md) -------------------
    history_retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Instances that ended more than this many days ago are deleted with their "
        "history, tasks, jobs and incidents; unset: history is kept forever",
    )
    retention_batch_size: int = Field(
        500, ge=1, le=10_000, description="Ended instances purged per transaction (short locks)"
    )
    retention_interval_seconds: float = Field(
        3600.0, ge=1, le=7 * 86_400, description="Seconds between two retention runs"
    )

    # --- logs and tracing (server/logs.py, server/telemetry.py, docs/logging-and-tracing.md) ---
    # Tracing reads OpenTelemetry's standard variables itself (OTEL_EXPORTER_OTLP_ENDPOINT, ...)
    log_format: Literal["json", "text"] = Field(
        "json",
        description="json: one JSON object per line with request_id, trace_id and span_id "
        "(for log collectors); text: one readable line with the request id (make run)",
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("handler_modules", "allowed_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def introspection(self) -> bool:
        """GRAPHQL_INTROSPECTION, else on only in the embedded mode (the demo, development)."""
        return self.embedded if self.graphql_introspection is None else self.graphql_introspection

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy's async engine, with the driver named."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{self.sqlite_path}"
        return async_url(self.database_url)


def async_url(url: str) -> str:
    """``postgres://`` (the seed's form) and ``postgresql://`` become asyncpg URLs; a SQLite
    URL gets aiosqlite; a URL that names its driver is kept."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"DATABASE_URL {url!r} is not a URL such as postgres://user@host/db")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    return url
