@provisioning
Feature: The whole secret is compared, and nothing else stands for it
  RFC 7617 §2: the server services a request only if it can validate the user-id and password. A server
  that hashes secrets with an algorithm reading only their first 72 bytes (bcrypt), or that takes the stored
  form it shows to administrators for the secret itself, validates something less than the password. Each
  scenario first shows the client's own credentials are accepted, then changes one thing.

  Rule: Every character of a long secret counts

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A long secret with only its last character changed is refused
      Given a client registered with a secret of 100 characters whose own credentials are accepted
      When the client authenticates with a secret that is the right one with its last character changed
      Then the client is refused as unauthenticated

  Rule: What the server shows of a stored secret does not open the client

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: The stored form of the secret, as the administrator reads it back, is refused as the secret
      Given a fresh client whose own credentials are accepted
      And the administrator reads the client's stored secret back
      When the client authenticates with the stored form of its secret
      Then the client is refused as unauthenticated
