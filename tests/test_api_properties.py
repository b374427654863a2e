"""Property-based test of the whole API against its own OpenAPI document (schemathesis).

Every operation is called with generated valid and invalid requests (with the token) on a real
app and database holding a measured product. No response may be a server error, and every
response must match the status codes, content types, headers and schemas the document
declares.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_support import TOKEN, api_env, auth
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dsa110_contimg.jobs.worker import run_worker

#: Examples per operation and generation mode (about 20 operations and 35 runs: ≈ 210
#: requests, half a minute on 2 idle cores).
EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_no_server_error_and_responses_match_the_document(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url, token=TOKEN) as env:
        created = env.client.post(
            "/api/batch/photometry",
            json={"images": ["images/epoch0-image-pb.fits"]},
            headers=auth(),
        )
        assert created.status_code == 201, created.text
        run_worker(stop_when_idle=True, url=sqlite_url)
        schema = schemathesis.openapi.from_asgi("/openapi.json", env.client.app)
        failures, n_operations = [], 0
        for result in schema.get_all_operations():
            operation = result.ok()
            n_operations += 1
            # Invalid requests need a query or body to be invalid in (a string path
            # parameter alone has almost none, and searching for one is slow).
            modes = [GenerationMode.POSITIVE]
            if len(operation.query) or len(operation.body):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                def check(case):
                    case.call_and_validate(headers=auth(), checks=CHECKS)

                try:
                    check()
                except Unsatisfiable:  # no invalid request exists for this operation
                    continue
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report all
                    failures.append(f"{operation.label} ({mode.value}): {exc}"[:1500])
    assert n_operations >= 19
    assert not failures, "\n\n".join(failures)
