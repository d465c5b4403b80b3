Feature: Malformed Authorization headers are refused
  RFC 9110 §11.4 gives the syntax of credentials: a scheme, then a token68 or parameters, nothing else.
  RFC 7617 §2 makes Basic's token the base64 of "user-id:password", and RFC 4648 §3.3 has decoders
  reject characters outside the base64 alphabet. Each scenario sends the client's own, accepted,
  credentials in a wrong form; the server must refuse it as unauthenticated, never with a 5xx.

  Background:
    Given a client whose own credentials are accepted

  Rule: Credentials in any other form than "Basic base64(id:secret)" are refused

    @req:RFC7617-2-VALIDATE @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE
    @req:NO-5XX-ON-BAD-INPUT @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario Outline: A request <form> is refused
      When the client sends its credentials <form>
      Then the client is refused as unauthenticated

      Examples:
        | form                                |
        | with no Authorization header        |
        | under the Bearer scheme             |
        | under the Digest scheme             |
        | as Basic with nothing after it      |
        | as base64 of text without a colon   |

  Rule: A token that is not strict base64 is refused

    @req:RFC4648-3.3-ALPHABET @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE
    @req:NO-5XX-ON-BAD-INPUT @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario: A request as a token that is not base64 is refused
      When the client sends its credentials as a token that is not base64
      Then the client is refused as unauthenticated

  Rule: Nothing may surround the credentials

    @req:RFC9110-11.4-SYNTAX @req:RFC9110-11.4-401 @req:RFC9110-11.6.1 @req:RFC7617-2-REALM @req:FHIR-SEARCH-FAILURE-4XX @req:RFC9110-11.4-CHALLENGE
    @req:NO-5XX-ON-BAD-INPUT @req:FHIR-OO-ON-ERROR @req:NO-SECRET-IN-RESPONSE @req:NO-DATA-IN-REFUSAL
    Scenario Outline: Credentials <form> are refused
      When the client sends its credentials <form>
      Then the client is refused as unauthenticated

      Examples:
        | form                       |
        | followed by extra text     |
        | wrapped in double quotes   |
