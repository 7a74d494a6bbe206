"""`om upload`: which API key it sends, where it sends it, and what each refusal tells the user.

The API and S3 are an `httpx.MockTransport` here; tests/e2e/test_batch_load.py runs the same
command against `om dev`, and tests/integration/test_upload_url.py pins S3's side of
`If-None-Match` on moto.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from services.cli import app
from services.devstack.dev_key import key_file, write_key_file
from services.devstack.options import DEFAULT_DATA_DIR
from services.upload_client import (
    DEV_KEY_FILE,
    ApiKey,
    NoApiKey,
    UploadFailed,
    find_api_key,
    upload,
)

KEY = "om_" + "k" * 40
OTHER_KEY = "om_" + "o" * 40
API = "http://api.test"
UPLOAD_URL = "http://s3.test/bucket/uploads/L1.csv?X-Amz-Signature=abc"
SUCCEEDED = {
    "status": "SUCCEEDED",
    "rowsRead": 2,
    "rowsLoaded": 1,
    "rowsRejected": 1,
    "errors": [{"line": 3, "reason": "side: must be Buy, Sell, 0 or 1"}],
    "errorReport": "s3://bucket/reports/L1.errors.csv",
}


@dataclass
class FakeServices:
    """The API and S3 as the client sees them; answers can be overridden per (method, host)."""

    answers: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    uploaded: list[bytes] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        given = self.answers.get((request.method, request.url.host))
        if given is not None:
            return given
        if request.url.host == "s3.test":
            self.uploaded.append(request.content)
            return httpx.Response(200)
        if request.method == "POST":
            return httpx.Response(201, json={"id": "L1", "preSignedUrl": UPLOAD_URL})
        return httpx.Response(200, json=SUCCEEDED)

    def to(self, host: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.host == host]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text("orderId,symbol,side,amount,price\n1,JPM,Buy,1,20\n2,JPM,Hold,1,20\n")
    return path


RunUpload = Callable[[FakeServices], tuple[int, str]]


@pytest.fixture
def run_upload(csv_file: Path) -> RunUpload:
    def run(services: FakeServices) -> tuple[int, str]:
        output = io.StringIO()
        status = upload(
            csv_file,
            api=API,
            api_key=ApiKey(KEY, "OM_API_KEY"),
            timeout_seconds=5,
            console=Console(file=output, soft_wrap=True, highlight=False),
            poll_seconds=0,
            transport=httpx.MockTransport(services),
        )
        return status, output.getvalue()

    return run


# --- which key ------------------------------------------------------------------------------


def write_dev_key(key: str) -> None:
    """Write `key` as `om dev` with its default --data-dir does, in the current folder."""
    path = key_file(DEFAULT_DATA_DIR)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_key_file(path, key)


def test_key_comes_from_om_api_key_trimmed() -> None:
    assert find_api_key({"OM_API_KEY": f" {KEY}\n"}) == ApiKey(KEY, "OM_API_KEY")


def test_without_om_api_key_the_key_is_read_where_om_dev_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_dev_key(KEY)
    found = find_api_key({})
    assert found.secret == KEY
    assert found.source == ".om/dev/api-key"


def test_the_default_key_file_is_the_one_the_contract_names() -> None:
    assert DEV_KEY_FILE.as_posix() == ".om/dev/api-key"


def test_om_api_key_wins_over_the_dev_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_dev_key(OTHER_KEY)
    assert find_api_key({"OM_API_KEY": KEY}).secret == KEY


def test_a_named_key_file_wins_over_om_api_key(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "api-key"
    path.parent.mkdir()
    write_key_file(path, KEY)
    assert find_api_key({"OM_API_KEY": OTHER_KEY}, path) == ApiKey(KEY, str(path))


def test_no_key_anywhere_says_to_set_om_api_key_or_start_om_dev(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoApiKey, match=r"set OM_API_KEY, or start `om dev`.*\.om/dev/api-key"):
        find_api_key({"OM_API_KEY": "  "})


def test_a_named_key_file_that_is_missing_is_reported(tmp_path: Path) -> None:
    with pytest.raises(NoApiKey, match=r"cannot read the API key from .*nope: No such file"):
        find_api_key({"OM_API_KEY": KEY}, tmp_path / "nope")


def test_a_malformed_key_is_refused_without_being_echoed() -> None:
    with pytest.raises(NoApiKey, match="OM_API_KEY holds no API key") as raised:
        find_api_key({"OM_API_KEY": "short-secret"})
    assert "short-secret" not in str(raised.value)


# --- what is sent where ---------------------------------------------------------------------


def test_the_key_goes_to_the_api_calls_and_never_to_the_upload_url(
    run_upload: RunUpload, csv_file: Path
) -> None:
    services = FakeServices()
    status, output = run_upload(services)
    assert status == 0
    api_calls = services.to("api.test")
    assert [(r.method, r.url.path) for r in api_calls] == [
        ("POST", "/api/orders/batch-load"),
        ("GET", "/api/orders/batch-load/L1"),
    ]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in api_calls)
    [put] = services.to("s3.test")
    assert "Authorization" not in put.headers
    assert put.headers["If-None-Match"] == "*"
    assert services.uploaded == [csv_file.read_bytes()]
    assert "load SUCCEEDED: 2 rows read, 1 loaded, 1 rejected" in output
    assert "line 3: side: must be Buy, Sell, 0 or 1" in output


# --- refusals -------------------------------------------------------------------------------


def test_a_refused_key_says_it_is_unknown_or_revoked_and_uploads_nothing(
    run_upload: RunUpload,
) -> None:
    services = FakeServices({("POST", "api.test"): httpx.Response(401, json={"detail": "x"})})
    with pytest.raises(UploadFailed) as raised:
        run_upload(services)
    message = str(raised.value)
    assert "API key from OM_API_KEY was refused (unknown or revoked)" in message
    assert "set OM_API_KEY" in message
    assert KEY not in message
    assert services.to("s3.test") == []


def test_a_key_without_the_load_scope_is_told_so(run_upload: RunUpload) -> None:
    services = FakeServices({("POST", "api.test"): httpx.Response(403, json={"detail": "x"})})
    with pytest.raises(UploadFailed, match="lacks the `load` scope"):
        run_upload(services)


def test_a_key_without_the_read_scope_is_told_so_when_following_the_load(
    run_upload: RunUpload,
) -> None:
    services = FakeServices({("GET", "api.test"): httpx.Response(403, json={"detail": "x"})})
    with pytest.raises(UploadFailed, match="lacks the `read` scope"):
        run_upload(services)


def test_an_upload_url_used_before_is_reported_as_such(run_upload: RunUpload) -> None:
    refused = httpx.Response(412, text="<Error><Code>PreconditionFailed</Code></Error>")
    services = FakeServices({("PUT", "s3.test"): refused})
    with pytest.raises(UploadFailed, match="this upload URL was already used"):
        run_upload(services)
    assert services.to("api.test")[-1].method == "POST"  # no waiting for a load never sent


def test_another_refusal_of_the_upload_names_s3s_code_and_message(run_upload: RunUpload) -> None:
    expired = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    services = FakeServices({("PUT", "s3.test"): httpx.Response(403, text=expired)})
    with pytest.raises(
        UploadFailed, match=r"refused: HTTP 403 \(AccessDenied: Request has expired\)"
    ):
        run_upload(services)


def test_an_answer_that_is_not_json_is_an_upload_failure(run_upload: RunUpload) -> None:
    services = FakeServices({("POST", "api.test"): httpx.Response(200, text="<html>")})
    with pytest.raises(UploadFailed, match="without JSON; is it the API's base URL"):
        run_upload(services)


# --- the command ----------------------------------------------------------------------------


def test_om_upload_without_a_key_exits_2_with_the_reason_and_no_traceback(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OM_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["upload", str(csv_file), "--api", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "error: no API key: set OM_API_KEY" in result.output
    assert "Traceback" not in result.output


def test_om_upload_takes_the_key_from_om_api_key(
    csv_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Found, so it gets as far as calling the API (which is not there: exit 1, not 2).
    result = CliRunner().invoke(
        app,
        ["upload", str(csv_file), "--api", "http://127.0.0.1:9"],
        env={"OM_API_KEY": KEY},
    )
    assert result.exit_code == 1
    assert "cannot reach the API at http://127.0.0.1:9" in result.output


def test_om_upload_reads_a_named_key_file(csv_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("not a key\n")
    result = CliRunner().invoke(
        app, ["upload", str(csv_file), "--key-file", str(path)], env={"OM_API_KEY": KEY}
    )
    assert result.exit_code == 2
    assert f"error: {path} holds no API key" in result.output
