"""Binds the seed document's three steps (features/seed/) to the suite."""

from pytest_bdd import scenarios

scenarios("seed")
