Feature: Every way of reading FHIR data asks for the client's credentials
  RFC 7617 §2: the server services a request only if it can validate the user-id and password. The seed's
  search is one way to read data; FHIR R4 http also reads a resource by its id (GET [type]/[id]) and
  searches with POST ([type]/_search). A server that protects only the first leaks through the others. Each
  scenario first shows the client's own credentials get the answer, then changes only the credentials.

  Background:
    Given a client whose own credentials are accepted

  Rule: Reading a resource by its id needs the client's credentials

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario Outline: Reading an Observation by its id <how> is refused
      Given the client can read an Observation it found by its id
      When the client reads that Observation <how>
      Then the client is refused as unauthenticated

      Examples:
        | how                 |
        | without credentials |
        | with a wrong secret |

  Rule: Searching with POST needs the client's credentials

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario Outline: Searching with POST <how> is refused
      Given the client can search with POST
      When the client searches with POST <how>
      Then the client is refused as unauthenticated

      Examples:
        | how                 |
        | without credentials |
        | with a wrong secret |
