"""Benchmark 4: the reference server's throughput for authenticated searches with Basic auth.

    python bench/server_throughput.py [--clients 1,16] [--seconds 5] [--runs 3]

It starts the reference server (`python -m refserver --port 0`, its own process), registers a client
with the basic grant and an allow policy, and 20 Observations (10 coded 4548-4) through the admin API.
Then this process, a second one on loopback, sends the seed's search
`GET /fhir/Observation?code=4548-4&_count=2` as fast as it can from 1 and from 16 concurrent clients
(asyncio tasks, each with its own keep-alive connection, as real clients have; a minimal HTTP/1.1 client,
so that this process is not the bottleneck), cycling
through credentials: right secret, wrong secret of the same length, right secret, unknown client id.
So half the requests carry valid credentials (expected 200) and half invalid ones (expected 401).
Each phase is bounded by --seconds and --max-requests.

How to read it: requests/s is the median over runs; "unexpected" counts answers other than 200 for
valid and 401 for invalid credentials, and transport errors; 5xx must be 0. Latency medians are per
kind of credential, from the last run: if hashing a secret per request were the cost, the valid and
wrong-secret rows would stand out from the unknown-id row (the server hashes for all three, the
unknown id against a dummy digest).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from urllib.parse import urlsplit

import httpx
from _common import bounded, median, reference_server, spread

from conformance.credentials import basic_header, fresh_secret, wrong_secret_same_length

SEARCH = "/fhir/Observation?code=4548-4&_count=2"
BUDGET_SECONDS = 300
REQUEST_TIMEOUT = 10


def provision(url: str, admin_secret: str) -> str:
    """The client, its policy and some data, through the admin API; returns the client's secret."""
    secret = fresh_secret()
    admin = {"authorization": basic_header("root", admin_secret)}
    with httpx.Client(base_url=url, headers=admin, timeout=10) as client:
        steps = [("/Client/bench-client", {"id": "bench-client", "secret": secret, "grant_types": ["basic"]}),
                 ("/AccessPolicy/bench-client-allow", {"id": "bench-client-allow", "engine": "allow",
                                                       "link": [{"resourceType": "Client", "id": "bench-client"}]})]
        for n in range(20):
            code = "4548-4" if n % 2 == 0 else "2339-0"
            steps.append((f"/fhir/Observation/bench-obs-{n}", {
                "resourceType": "Observation", "id": f"bench-obs-{n}", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": "Patient/bench-patient"},
                "valueQuantity": {"value": 5.4, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}}))
        for path, body in steps:
            answer = client.put(path, json=body)
            if answer.status_code >= 300:
                sys.exit(f"provisioning {path} answered {answer.status_code}: {answer.text[:300]}")
    return secret


def credential_cycle(secret: str) -> list[tuple[str, str, int]]:
    """(kind, Authorization value, expected status), cycled through by every client."""
    return [("valid", basic_header("bench-client", secret), 200),
            ("wrong secret", basic_header("bench-client", wrong_secret_same_length(secret)), 401),
            ("valid", basic_header("bench-client", secret), 200),
            ("unknown id", basic_header("bench-never-registered", secret), 401)]


class RawClient:
    """One keep-alive HTTP/1.1 connection, requests written pre-encoded and answers read by Content-Length.
    An httpx.AsyncClient spends about 2 ms of CPU per request here, so 16 of them saturate this process
    near 450 requests/s before the server does; this one spends a small fraction of that."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close = None, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise ConnectionError(f"unexpected transfer-encoding {value}")
            elif name == "connection" and value == "close":
                close = True
        if length is None:
            raise ConnectionError("an answer without Content-Length")
        await self.reader.readexactly(length)
        if close:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def load(url: str, cycle, clients: int, seconds: float, max_requests: int) -> dict:
    parts = urlsplit(url)
    requests = [(kind, (f"GET {SEARCH} HTTP/1.1\r\nhost: {parts.netloc}\r\naccept: application/json\r\n"
                        f"authorization: {header}\r\n\r\n").encode("ascii"), expected)
                for kind, header, expected in cycle]
    deadline = time.perf_counter() + seconds
    budget = [max_requests]
    statuses: dict[str, int] = {}
    latencies: dict[str, list[float]] = {kind: [] for kind, _h, _s in cycle}
    unexpected = [0]

    async def one_client(offset: int) -> None:
        client = RawClient(parts.hostname, parts.port)
        index = offset
        try:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                kind, raw, expected = requests[index % len(requests)]
                index += 1
                started = time.perf_counter()
                try:
                    status = str(await asyncio.wait_for(client.request(raw), REQUEST_TIMEOUT))
                except (OSError, ValueError, IndexError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
                    status = type(error).__name__
                    await client.close()
                latencies[kind].append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status != str(expected):
                    unexpected[0] += 1
        finally:
            await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(clients)))
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    return {"total": total, "seconds": elapsed, "rate": total / elapsed, "statuses": statuses,
            "unexpected": unexpected[0], "server_errors": sum(v for k, v in statuses.items() if k.startswith("5")),
            "latency_ms": {kind: median(values) * 1e3 for kind, values in latencies.items() if values}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,16", help="concurrent clients per phase [1,16]")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run [5]")
    parser.add_argument("--max-requests", type=int, default=50_000, help="requests per run at most [50000]")
    parser.add_argument("--runs", type=int, default=3, help="runs per phase to take the median of [3]")
    args = parser.parse_args()

    failed = False
    with reference_server() as (url, admin_secret, _startup):
        cycle = credential_cycle(provision(url, admin_secret))
        asyncio.run(load(url, cycle, 2, 0.5, 200))  # warm-up: imports, connections, SQLite pages
        print(f"{'clients':>7} {'req/s':>8} {'min-max':>15} {'requests':>9} {'unexpected':>10} {'5xx':>4}"
              f"  latency ms (median): valid / wrong secret / unknown id   statuses (last run)")
        for clients in [int(c) for c in args.clients.split(",")]:
            runs = [asyncio.run(load(url, cycle, clients, args.seconds, args.max_requests))
                    for _ in bounded(args.runs, BUDGET_SECONDS)]
            rates = [r["rate"] for r in runs]
            last = runs[-1]
            lat = last["latency_ms"]
            errors = sum(r["server_errors"] for r in runs)
            failed = failed or errors > 0
            print(f"{clients:>7} {median(rates):>8.0f} {spread(rates, 0):>15} {sum(r['total'] for r in runs):>9}"
                  f" {sum(r['unexpected'] for r in runs):>10} {errors:>4}"
                  f"  {lat.get('valid', 0):6.2f} / {lat.get('wrong secret', 0):6.2f} / {lat.get('unknown id', 0):6.2f}"
                  f"   {dict(sorted(last['statuses'].items()))}", flush=True)
    print()
    print(f"0 5xx required: {'met' if not failed else 'NOT met'}; "
          "invalid credentials are half of all requests (expected 401)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
