"""The limits every request of the suite keeps (conformance.exchange, issue 5), one broken server at a
time: a timeout, a cap on the body read, a deadline for a body still trickling in, no redirect followed,
no more waiting on a server that stopped answering, and a sentence naming the problem instead of an
exception."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest

from conformance import exchange as exchange_module
from conformance.exchange import MAX_BODY, UNANSWERED_IN_A_ROW, HttpAgent, SuiteClient, build_http_client
from tests.hostile_server import hostile_server, recorder


def send_once(url: str, timeout: float = 1.0, path: str = "/fhir/Observation"):
    with build_http_client(timeout, True, None) as client:
        agent = HttpAgent(client, url)
        started = time.monotonic()
        exchange = agent.send("GET", path, headers={"authorization": "Basic Y2xpZW50OnNlY3JldA=="})
        return exchange, time.monotonic() - started


def test_a_body_past_the_limit_is_not_read_to_its_end():
    with hostile_server("huge-body") as server:
        exchange, elapsed = send_once(server.url)
    assert exchange.response is None
    assert "more than 4 MB" in exchange.error and "200 OK" in exchange.error, exchange.error
    assert elapsed < 10, elapsed


def test_a_declared_length_past_the_limit_is_refused_before_reading():
    with hostile_server("huge-declared") as server:
        exchange, elapsed = send_once(server.url)
    assert exchange.response is None
    assert "52,428,800 bytes (Content-Length)" in exchange.error, exchange.error
    assert elapsed < 5, elapsed


def test_a_compressed_body_is_limited_by_what_it_expands_to():
    bomb = gzip.compress(b"0" * (MAX_BODY * 2))

    def handler(request):
        return httpx.Response(200, headers={"content-encoding": "gzip", "content-type": "application/json"},
                              content=bomb)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        exchange = HttpAgent(client, "http://server.test").send("GET", "/fhir/Observation")
    assert len(bomb) < MAX_BODY / 10
    assert exchange.response is None and "more than 4 MB" in exchange.error, exchange.error


def test_a_body_within_the_limit_reads_as_usual():
    body = b'{"resourceType": "Bundle", "type": "searchset", "total": 0}'

    def handler(request):
        return httpx.Response(200, headers={"content-type": "application/fhir+json", "content-encoding": "gzip"},
                              content=gzip.compress(body))

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        exchange = HttpAgent(client, "http://server.test").send("GET", "/fhir/Observation")
    assert exchange.error is None
    assert exchange.json() == {"resourceType": "Bundle", "type": "searchset", "total": 0}
    assert exchange.text == body.decode()


def test_a_body_still_trickling_in_after_the_timeout_is_abandoned():
    with hostile_server("drip") as server:
        exchange, elapsed = send_once(server.url, timeout=1.0)
    assert exchange.response is None
    assert "still arriving after --http-timeout (1 s)" in exchange.error, exchange.error
    assert elapsed < 4, elapsed


def test_a_server_that_never_answers_times_out_and_is_then_no_longer_waited_on():
    with hostile_server("hang") as server, build_http_client(0.5, True, None) as client:
        agent = HttpAgent(client, server.url)
        started = time.monotonic()
        for _ in range(UNANSWERED_IN_A_ROW):
            exchange = agent.send("GET", "/fhir/Observation")
            assert exchange.error.startswith("no answer within --http-timeout (0.5 s)"), exchange.error
        waited = time.monotonic() - started
        started = time.monotonic()
        skipped = agent.send("GET", "/fhir/Patient")
        assert time.monotonic() - started < 0.2
        assert skipped.error.startswith(f"not sent: the server left the last {UNANSWERED_IN_A_ROW} requests "
                                        "unanswered"), skipped.error
        client.give_another_chance()  # what the cleanup does: one more try
        again = agent.send("DELETE", "/Client/conf-00000000-x")
        assert again.error.startswith("no answer within"), again.error
        assert len(server.received) == UNANSWERED_IN_A_ROW + 1
    assert waited < UNANSWERED_IN_A_ROW * 0.5 + 3, waited


def test_an_answer_resets_the_count_of_unanswered_requests():
    client = build_http_client(1.0, True, None)
    client.unanswered_in_a_row = UNANSWERED_IN_A_ROW - 1
    with hostile_server("html") as server, client:
        exchange = HttpAgent(client, server.url).send("GET", "/")
    assert exchange.status == 200 and client.unanswered_in_a_row == 0


def test_a_connection_closed_mid_answer_is_named():
    with hostile_server("close-mid-response") as server:
        exchange, _ = send_once(server.url)
    assert exchange.response is None
    assert "closed the connection mid-answer" in exchange.error, exchange.error


def test_a_refused_connection_is_named():
    with hostile_server("html") as server:
        url = server.url
    exchange, _ = send_once(url)
    assert exchange.error.startswith("could not connect to the server"), exchange.error


def test_a_redirect_to_another_origin_is_not_followed_and_no_credential_reaches_it():
    with recorder() as other, hostile_server("redirect", other.url) as server:
        exchange, _ = send_once(server.url)
        assert exchange.status == 307
        assert exchange.header("location").startswith(other.url)
        assert other.received == []
        assert server.received[0]["authorization"]


def test_garbage_answers_come_back_as_answers_that_read_as_not_json():
    for mode in ("html", "invalid-json"):
        with hostile_server(mode) as server:
            exchange, _ = send_once(server.url)
        assert exchange.status == 200 and exchange.json() is None, mode


def test_an_invalid_url_is_an_error_sentence_not_an_exception():
    with build_http_client(1.0, True, None) as client:
        exchange = HttpAgent(client, "http://127.0.0.1:1").send("GET", "http://[::1")
    assert exchange.response is None and exchange.error


def test_every_transport_error_is_explained(monkeypatch):
    request = httpx.Request("GET", "https://server.test/")
    cases = {
        httpx.ReadTimeout("timed out", request=request): "no answer within --http-timeout (2 s)",
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=request):
            "--ca-bundle=FILE",
        httpx.ProxyError("502 Bad Gateway", request=request): "the proxy did not pass the request on",
        httpx.RemoteProtocolError("peer closed connection", request=request): "closed the connection mid-answer",
        httpx.DecodingError("bad gzip", request=request): "could not be decoded",
    }
    for error, expected in cases.items():
        assert expected in exchange_module.explain_transport_error(error, 2.0), error


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_no_redirect_is_ever_followed(status):
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(status, headers={"location": "https://elsewhere.test/steal"})

    with SuiteClient(1.0, transport=httpx.MockTransport(handler)) as client:
        exchange = HttpAgent(client, "https://server.test").send("GET", "/fhir/Observation")
    assert exchange.status == status and seen == ["https://server.test/fhir/Observation"]
