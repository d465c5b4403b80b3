"""--ca-bundle, --insecure, --proxy and --http-timeout, each shown working on a real run (issue 5).

TLS: the reference server over HTTPS with a certificate from a throw-away CA (tests/tls_certificates.py):
refused by default, accepted with --ca-bundle, accepted with --insecure and a printed warning.
Proxy: every request of a run goes through a local recording proxy (tests/recording_proxy.py)."""

from __future__ import annotations

import time

import pytest

from tests.hostile_server import hostile_server
from tests.recording_proxy import recording_proxy
from tests.suite_runner import reference_server, run_suite
from tests.tls_certificates import make_certificates, openssl_available

SEARCH_ONLY = ("-k", "documented_search")  # one scenario is enough to show a setting refused or accepted

pytestmark = pytest.mark.skipif(not openssl_available(), reason="needs the openssl command to make certificates")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    certificates = make_certificates(tmp_path_factory.mktemp("tls"))
    args = ("--ssl-certfile", str(certificates.cert), "--ssl-keyfile", str(certificates.key))
    with reference_server(server_args=args) as (url, admin_secret):
        assert url.startswith("https://127.0.0.1:")
        yield url, admin_secret, certificates


def test_a_certificate_no_trusted_ca_issued_is_refused_by_default(tls_server, tmp_path):
    url, admin_secret, _ = tls_server
    run = run_suite(url, admin_secret, tmp_path)
    assert run.returncode == 4, run.output[-3000:]  # the run could not happen as asked: not a pass, not a finding
    assert f"cannot reach the server under test at {url}: the server's TLS certificate could not be verified" \
        in run.output, run.output[-3000:]
    assert "--ca-bundle=FILE" in run.output
    assert "INTERNALERROR" not in run.output and "Traceback" not in run.output


def test_a_server_that_cannot_be_reached_stops_the_run_instead_of_skipping_everything(tmp_path):
    with hostile_server("html") as server:
        url = server.url  # closed when the block ends: nothing listens there any more
    for extra, env in (((), None), (("--provisioning", "none"),
                                    {"CONFORMANCE_CLIENT_ID": "c", "CONFORMANCE_CLIENT_SECRET": "s" * 24})):
        run = run_suite(url, "admin-secret-not-used-here", tmp_path, *extra, env=env)
        assert run.returncode == 4, run.output[-2000:]
        assert f"cannot reach the server under test at {url}: could not connect to the server" in run.output


def test_the_whole_suite_passes_over_tls_with_the_ca_bundle(tls_server, tmp_path):
    url, admin_secret, certificates = tls_server
    run = run_suite(url, admin_secret, tmp_path, f"--ca-bundle={certificates.ca}")
    assert run.returncode == 0, run.output[-3000:]
    assert run.outcomes and set(run.outcomes.values()) <= {"passed", "skipped"}, run.outcomes
    assert "passed" in run.outcomes.values()
    assert "--insecure" not in run.output


def test_insecure_accepts_the_certificate_and_says_so(tls_server, tmp_path):
    url, admin_secret, _ = tls_server
    run = run_suite(url, admin_secret, tmp_path, "--insecure", f"--spec-summary={tmp_path / 'summary.md'}",
                    *SEARCH_ONLY)
    assert run.returncode == 0, run.output[-3000:]
    assert "WARNING: --insecure: the server's TLS certificate is not verified" in run.output  # at the start
    assert "WARNING: --insecure: the server's TLS certificate was not verified" in run.output  # in the verdict too
    assert "--insecure" in (tmp_path / "summary.md").read_text()


def test_a_missing_ca_bundle_is_a_usage_error(tmp_path):
    with reference_server() as (url, admin_secret):
        run = run_suite(url, admin_secret, tmp_path, f"--ca-bundle={tmp_path / 'missing.pem'}", *SEARCH_ONLY)
    assert run.returncode == 4, run.output[-2000:]
    assert "--ca-bundle: no such file" in run.output


def test_every_request_goes_through_the_proxy(tmp_path):
    with reference_server() as (url, admin_secret), recording_proxy() as proxy:
        run = run_suite(url, admin_secret, tmp_path, f"--proxy={proxy.url}")
        seen = list(proxy.seen)
    assert run.returncode == 0, run.output[-3000:]
    assert len(seen) > 50, seen
    assert all(target.startswith(url) for _, target in seen), seen[:5]
    assert {method for method, _ in seen} >= {"GET", "PUT", "DELETE"}


def test_a_dead_proxy_is_named_as_what_cannot_be_reached(tmp_path):
    with reference_server() as (url, admin_secret):
        run = run_suite(url, admin_secret, tmp_path, "--proxy=http://someone:proxy-password@127.0.0.1:9", *SEARCH_ONLY)
    assert run.returncode == 4, run.output[-2000:]
    assert f"cannot reach the server under test at {url} through the proxy http://127.0.0.1:9" in run.output
    assert "proxy-password" not in run.output


def test_tls_through_the_proxy_is_tunnelled(tls_server, tmp_path):
    url, admin_secret, certificates = tls_server
    with recording_proxy() as proxy:
        run = run_suite(url, admin_secret, tmp_path, f"--proxy={proxy.url}", f"--ca-bundle={certificates.ca}",
                        *SEARCH_ONLY)
        seen = list(proxy.seen)
    assert run.returncode == 0, run.output[-3000:]
    assert seen and all(method == "CONNECT" and target == url.removeprefix("https://") for method, target in seen), seen


@pytest.mark.parametrize("timeout", [1, 2])
def test_http_timeout_bounds_each_wait(timeout, tmp_path):
    """A server that never answers: the run lasts a few timeouts, not one per request."""
    with hostile_server("hang") as server:
        started = time.monotonic()
        run = run_suite(server.url, "admin-secret-not-used-here", tmp_path, f"--http-timeout={timeout}")
        elapsed = time.monotonic() - started
    assert run.returncode == 1, run.output[-2000:]
    assert f"no answer within --http-timeout ({timeout} s)" in run.output
    assert elapsed < 8 * timeout + 30, elapsed
