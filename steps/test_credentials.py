"""Binds the rejection paths and accepted encodings (features/credentials/) to the suite."""

from pytest_bdd import scenarios

scenarios("credentials")
