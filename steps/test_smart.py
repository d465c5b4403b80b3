"""Binds SMART discovery and the token endpoint (features/smart/) to the suite."""

from pytest_bdd import scenarios

scenarios("smart")
