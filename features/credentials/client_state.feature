@provisioning
Feature: Changes to a client take effect at once
  The seed registers a Client with the "basic" grant and links it to an allow AccessPolicy. When the
  administrator changes either, the very next request must see it: no waiting, no cache that lets an
  old secret, a deleted client or a removed grant through. An authenticated client that no policy
  allows is refused as forbidden (403), told apart from an unauthenticated one (401, RFC 9110 §15.5.4).

  Background:
    Given a fresh client whose own credentials are accepted

  Rule: Only a client with the basic grant may use Basic credentials

    @req:SEED-BASIC-GRANT @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A client registered without the basic grant is refused
      When the administrator registers a second client like it but without the basic grant
      And the client without the basic grant authenticates with its own secret
      Then the client is refused as unauthenticated

    @req:SEED-BASIC-GRANT @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A client whose basic grant was removed is refused at once
      When the administrator removes the basic grant from the client
      And the client without the basic grant authenticates with its own secret
      Then the client is refused as unauthenticated

  Rule: A deleted client and a replaced secret stop working at once

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:FHIR-OO-ON-ERROR
    @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A deleted client is refused at once
      When the administrator deletes the client
      And the client authenticates with its own secret
      Then the client is refused as unauthenticated

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:FHIR-OO-ON-ERROR
    @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: After the secret is rotated the old secret is refused at once
      When the administrator gives the client a new secret
      And the client authenticates with its old secret
      Then the client is refused as unauthenticated

    @req:SEED-SEARCH-BASIC
    Scenario: After the secret is rotated the new secret is accepted at once
      When the administrator gives the client a new secret
      And the client authenticates with its new secret
      Then the client is served

  Rule: An authenticated client that no policy allows is forbidden, not unauthenticated

    @req:SEED-POLICY-REQUIRED @req:RFC9110-15.5.4-403 @req:RFC9110-15.5.4-404 @req:FHIR-SEARCH-FAILURE-4XX @req:NO-5XX-ON-BAD-INPUT @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE
    @req:NO-DATA-IN-REFUSAL
    Scenario: A client that no policy allows is refused as forbidden
      Given no policy on the server allows every client
      When the administrator registers a second client like it but linked to no policy
      And that second client authenticates with its own secret
      Then the client is refused as forbidden

    @req:SEED-POLICY-REQUIRED @req:RFC9110-15.5.4-403 @req:RFC9110-15.5.4-404 @req:FHIR-SEARCH-FAILURE-4XX @req:NO-5XX-ON-BAD-INPUT @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE
    @req:NO-DATA-IN-REFUSAL
    Scenario: A client whose policy was deleted is refused as forbidden at once
      Given no policy on the server allows every client
      When the administrator deletes the client's policy
      And the client authenticates with its own secret
      Then the client is refused as forbidden
