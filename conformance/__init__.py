"""The library behind the conformance steps: target, provisioning, credentials, checks, verdicts."""
