"""The embedded reference server: a small Aidbox subset (Client, AccessPolicy, FHIR CRUD and
search behind HTTP Basic auth) with named fault modes for the suite's self-tests.

It imports nothing from the suite; the suite reaches it only over HTTP. See DESIGN.md §6.
"""
