"""Responses: JSON in the right content type, OperationOutcomes, and the 401/403 refusals.

Every error the server gives goes through here, so each refusal has exactly one shape and
the faults that distort refusals (or content types) each have one place to act.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import faults as F
from .auth import Credentials

FHIR_JSON = "application/fhir+json; charset=utf-8"
ADMIN_JSON = "application/json"
CHALLENGE = 'Basic realm="refserver", charset="UTF-8"'
CHALLENGE_WITHOUT_REALM = 'Basic charset="UTF-8"'  # the challenge-without-realm fault's
LOGIN_PAGE = "/login"  # where the redirect faults send a refused client
AUTHENTICATION_FAILED = "Authentication failed"
ACCESS_DENIED = "Access denied by policy"


class Problem(Exception):
    """A request the server refuses, answered with an OperationOutcome (see problem_response)."""

    def __init__(self, status: int, code: str, diagnostics: str):
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


def _faults(request: Request) -> frozenset[str]:
    return request.app.state.config.faults


def is_fhir_path(request: Request) -> bool:
    path = request.url.path
    return path == "/fhir" or path.startswith("/fhir/")


def json_response(request: Request, body: dict, status: int = 200, headers: dict | None = None) -> Response:
    """JSON labelled for the API it answers: FHIR JSON under /fhir, plain JSON elsewhere."""
    media_type = ADMIN_JSON
    if is_fhir_path(request):
        media_type = "text/plain" if F.enabled(_faults(request), "wrong-content-type") else FHIR_JSON
    return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)


def operation_outcome(code: str, diagnostics: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def outcome_response(request: Request, status: int, code: str, diagnostics: str, headers: dict | None = None) -> Response:
    return json_response(request, operation_outcome(code, diagnostics), status, headers)


async def problem_response(request: Request, problem: Problem) -> Response:
    """Exception handler for Problem."""
    return outcome_response(request, problem.status, problem.code, problem.diagnostics)


def unauthorized(request: Request, credentials: Credentials | None = None) -> Response:
    """The one 401 for missing, malformed, unknown or wrong credentials (RFC 9110 §11.6.1),
    carrying the Basic challenge with charset="UTF-8" (RFC 7617 §2.1)."""
    faults = _faults(request)
    diagnostics = AUTHENTICATION_FAILED
    if F.enabled(faults, "echo-secret-in-error") and credentials is not None:
        diagnostics = f"{AUTHENTICATION_FAILED} for {credentials.client_id}:{credentials.secret}"
    if F.enabled(faults, "echo-secret-prefix-in-error") and credentials is not None:
        diagnostics += f': the secret given starts "{credentials.secret[:16]}"'  # after echo-secret-in-error's, if on
    if F.enabled(faults, "unauthenticated-as-403"):
        return _refusal(request, 403, "login", diagnostics, {})
    if F.enabled(faults, "unauthenticated-redirects-to-login") and is_fhir_path(request):
        return Response(status_code=302, headers={"Location": LOGIN_PAGE})
    challenge = CHALLENGE_WITHOUT_REALM if F.enabled(faults, "challenge-without-realm") else CHALLENGE
    headers = {} if F.enabled(faults, "no-www-authenticate") else {"WWW-Authenticate": challenge}
    if F.enabled(faults, "echo-authorization-in-header") and "authorization" in request.headers:
        headers["X-Received-Authorization"] = request.headers["authorization"].rstrip("=")
    return _refusal(request, 401, "login", diagnostics, headers)


def forbidden(request: Request, leaked_bundle: dict | None = None) -> Response:
    """403: the client is known but no AccessPolicy allows it. `leaked_bundle` is only ever
    given under the resources-in-refusal fault."""
    if F.enabled(_faults(request), "forbidden-as-401"):
        return unauthorized(request)
    return _refusal(request, 403, "forbidden", ACCESS_DENIED, {}, leaked_bundle)


def _refusal(request: Request, status: int, code: str, diagnostics: str, headers: dict, leaked: dict | None = None) -> Response:
    if F.enabled(_faults(request), "refusal-not-operation-outcome"):
        return json_response(request, {"error": diagnostics}, status, headers)
    body = operation_outcome(code, diagnostics)
    if leaked is not None:
        body["contained"] = [leaked]
    return json_response(request, body, status, headers)
