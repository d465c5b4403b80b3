Feature: Wrong credentials are refused
  RFC 7617 §2: the server services a request only if it can validate the user-id and password.
  RFC 9110 §11.4, §11.6.1: a request with invalid credentials is answered 401 with a Basic challenge.
  Each scenario first shows the client's own credentials are accepted for the same search, then
  changes one thing. A refusal must carry no resource data and must not repeat the secret.

  Background:
    Given a client whose own credentials are accepted

  Rule: Only the exact registered secret is accepted

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario Outline: A secret that is <variant> is refused
      When the client authenticates with a secret that is <variant>
      Then the client is refused as unauthenticated

      Examples:
        | variant                                            |
        | wrong but of the same length                       |
        | the right one with a character added               |
        | the right one with a space added                   |
        | the right one followed by a NUL character and more |
        | the right one missing its last character           |
        | the right one with its last character changed      |
        | the right one in another letter case               |
        | empty                                              |

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario Outline: A wrong secret under the scheme written <spelling> is refused
      When the client authenticates with a wrong secret under the scheme written <spelling>
      Then the client is refused as unauthenticated

      Examples:
        | spelling |
        | basic    |
        | BASIC    |

  Rule: Only a registered client id, with its own secret, is accepted

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: An unknown client id is refused
      When an unknown client id authenticates with the client's secret
      Then the client is refused as unauthenticated

    @provisioning @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A client id with another registered client's secret is refused
      Given another registered client
      When the client authenticates with the other client's secret
      Then the client is refused as unauthenticated

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE @req:NO-5XX-ON-BAD-INPUT
    @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A client id with the administrator's secret is refused
      Given the administrator's own credentials are accepted
      When the client authenticates with the administrator's secret
      Then the client is refused as unauthenticated

    @req:NO-CLIENT-ENUMERATION
    Scenario: An unknown client id and a wrong secret are refused alike
      When an unknown client id authenticates with the client's secret
      And the client authenticates with a wrong secret as well
      Then the two refusals cannot be told apart
