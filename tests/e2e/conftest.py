"""The real services of the integration tests (PostgreSQL, Redis), for the browser tests."""

from integration.conftest import (  # noqa: F401  (fixtures, re-exported for this folder)
    anyio_backend,
    fresh_postgres_url,
    redis_prefix,
    redis_url,
)
