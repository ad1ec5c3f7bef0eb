"""Property-based fuzzing of the HTTP API from its own OpenAPI description (schemathesis): valid
and invalid requests generated from the schema must never get a 5xx. Bounded: a few dozen
examples per endpoint, a few seconds in all; MCINDEX_FUZZ_HTTP_EXAMPLES=N for a longer run."""

import os

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from mcindex.serve import make_app  # noqa: E402
from serve_data import shop  # noqa: E402

# Small limits, so that generated bodies near the bounds stay cheap to search.
app = make_app(shop(), max_queries=4, max_k=20, max_ef=64, max_body_bytes=64_000, max_where_chars=200)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=int(os.environ.get("MCINDEX_FUZZ_HTTP_EXAMPLES", "40")), deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
