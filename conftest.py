"""Command-line options of the suite (the contract the README's Options table documents) and the plugins that carry it.

Nothing else lives here: fixtures and hooks are in conformance.plugin, steps in steps/.
"""

pytest_plugins = [
    "conformance.plugin",
    "conformance.reporting",
    "conformance.secrets_dump",
    "steps.common",
    "steps.clients",
    "steps.credentials",
    "steps.fhir_search",
    "steps.token_endpoint",
]


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "FHIR client-secret (Basic) conformance")
    add = group.addoption
    add("--server-url", default=None, metavar="URL",
        help="base URL of the server under test (env CONFORMANCE_SERVER_URL); "
             "default: start the embedded reference server")
    add("--fhir-base", default="/fhir", metavar="PATH", help="FHIR endpoint relative to the server URL [/fhir]")
    add("--admin-client-id", default=None, metavar="ID",
        help="client used to provision (env CONFORMANCE_ADMIN_CLIENT_ID) [root]")
    add("--admin-client-secret", default=None, metavar="S",
        help="its secret; prefer env CONFORMANCE_ADMIN_CLIENT_SECRET (command lines show in ps)")
    add("--provisioning", default="aidbox", choices=("aidbox", "none"),
        help="aidbox: the suite registers its own clients, policies and data; none: use --client-id/--client-secret")
    add("--client-id", default=None, metavar="ID", help="pre-registered client for --provisioning none (env CONFORMANCE_CLIENT_ID)")
    add("--client-secret", default=None, metavar="S",
        help="its secret; prefer env CONFORMANCE_CLIENT_SECRET")
    add("--fhir-version", default="R4", choices=("R4", "R4B", "R5"), help="FHIR version of the server [R4]")
    add("--fail-on-should", action="store_true", help="SHOULD failures fail the run too")
    add("--waivers", default=None, metavar="FILE",
        help="YAML or JSON file of known failures to accept, by requirement id, each with a reason; "
             "a waived requirement that now holds fails the run as a stale waiver")
    add("--spec-report", default=None, metavar="FILE", help="write a self-contained HTML spec report")
    add("--spec-summary", default=None, metavar="FILE",
        help="write a Markdown summary (fits a CI job summary, e.g. $GITHUB_STEP_SUMMARY)")
    add("--http-timeout", default=10.0, type=float, metavar="S", help="per-request timeout in seconds [10]")
    add("--ca-bundle", default=None, metavar="FILE", help="CA certificates to verify the server with")
    add("--insecure", action="store_true", help="do not verify the server's TLS certificate (prints a warning)")
    add("--proxy", default=None, metavar="URL", help="HTTP(S) proxy for every request")
    add("--keep-resources", action="store_true", help="do not delete what the run created (debugging)")
