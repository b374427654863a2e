"""``contimg serve`` over real HTTP, ``/health``, ``/metrics`` and the OpenAPI document."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from api_support import api_env
from prometheus_client.parser import text_string_to_metric_families


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_contimg_serve_answers_over_http(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "CONTIMG_STATE_DIR": str(tmp_path / "state"),
        "CONTIMG_API__TOKEN": "t0ken",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["database"] == "ok" and health.json()["revision"]
        refused = httpx.post(
            f"http://127.0.0.1:{port}/api/batch/photometry", json={"data_ids": ["x"]}
        )
        assert refused.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_health_metrics_and_openapi_document(tmp_path, sqlite_url):
    with api_env(tmp_path, sqlite_url) as env:
        client = env.client
        assert client.get("/health").json()["status"] == "ok"
        client.get("/api/data")
        client.get("/api/data/image-nope")
        response = client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        assert families["contimg_database_up"].samples[0].value == 1
        assert families["contimg_queue_depth"].samples[0].value == 0
        requests = {
            (s.labels["route"], s.labels["status"]): s.value
            for s in families["contimg_http_requests"].samples
            if s.name.endswith("_total")
        }
        assert requests[("/api/data", "200")] == 1
        assert requests[("/api/data/{data_id}", "404")] == 1
        assert "contimg_http_request_duration_seconds" in families

        document = client.get("/openapi.json").json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                label = f"{method.upper()} {path}"
                assert operation.get("summary") and operation.get("description"), label
                assert "200" in operation["responses"] or "201" in operation["responses"], label
                if operation.get("parameters") or operation.get("requestBody"):
                    error = operation["responses"]["422"]["content"]["application/json"]
                    assert error["schema"]["$ref"].endswith("/ErrorResponse"), label
        assert document["paths"]["/api/batch/photometry"]["post"]["security"] == [{"token": []}]
