@provisioning
Feature: The token endpoint issues access tokens to clients that authenticate with their secret
  SMART App Launch's client-confidential-symmetric profile: the client authenticates at the token endpoint with
  HTTP Basic, where RFC 6749 §2.3.1 has the client id and secret form-urlencoded before base64; it asks for the
  client_credentials grant (RFC 6749 §4.4; Aidbox's /auth/token) and uses the access token it gets as a Bearer
  token on the FHIR API (RFC 6750 §2.1). RFC 6749 §5.1 says what a token answer holds, §5.2 how each mistake is
  refused. Every refusal scenario first shows that the same client's own secret gets a token, then changes one
  thing. Where the server's SMART configuration does not advertise the token endpoint, client_secret_basic or the
  client-confidential-symmetric capability, these scenarios are skipped, not failed; so are those that need a
  token from a server that refuses the suite's scope-less token requests as invalid_scope (RFC 6749 §3.3).

  Background:
    Given the server advertises client-secret authentication at its token endpoint

  Rule: The client's own secret gets a token that works on the FHIR API

    @req:RFC6749-2.3.1-BASIC @req:RFC6749-5.1-TOKEN @req:RFC6749-5.1-EXPIRES-IN @req:RFC6749-4.4.3-NO-REFRESH-TOKEN
    @req:RFC6749-5.1-NO-STORE @req:RFC6749-5.1-PRAGMA @req:RFC6750-2.1-BEARER
    Scenario: A client's own secret gets a token that serves the documented search
      Given a client registered for the client credentials grant and allowed by a policy
      When the client asks for a token with its secret
      Then a token is issued with its type and lifetime, without a refresh token, marked not to be stored
      And the token serves the documented search

  Rule: A client that fails to authenticate gets no token

    @req:RFC6749-4.4-AUTHENTICATE @req:RFC6749-5.2-INVALID-CLIENT @req:RFC6749-5.2-INVALID-CLIENT-401 @req:RFC7617-2-REALM
    @req:RFC6749-5.2-ERROR-RESPONSE @req:NO-5XX-ON-BAD-INPUT @req:NO-SECRET-IN-RESPONSE
    Scenario Outline: A token request <variant> is refused as failed client authentication
      Given a client whose own secret gets a token
      When the client asks for a token <variant>
      Then the token request is refused as failed client authentication

      Examples:
        | variant                                   |
        | with a wrong secret                       |
        | with its secret missing its last character |
        | with its secret's last character changed  |
        | with its secret in another letter case    |
        | with an empty secret                      |
        | under an unknown client id                |

    @req:RFC6749-4.4-AUTHENTICATE @req:RFC6749-5.2-INVALID-CLIENT @req:RFC6749-5.2-401-OPTIONAL @req:RFC9110-11.6.1 @req:RFC7617-2-REALM
    @req:RFC6749-5.2-ERROR-RESPONSE @req:NO-5XX-ON-BAD-INPUT @req:NO-SECRET-IN-RESPONSE
    Scenario Outline: Without Basic credentials, a token request <variant> is refused as failed client authentication
      Given a client whose own secret gets a token
      When the client asks for a token <variant>
      Then the token request is refused as failed client authentication

      Examples:
        | variant                              |
        | carrying no credentials at all       |
        | with a wrong secret in the body      |
        | with its client id alone in the body |

  Rule: A request the client got wrong is refused with the error that names the mistake

    @req:RFC6749-5.2-INVALID-REQUEST @req:RFC6749-5.2-ERROR-RESPONSE @req:NO-5XX-ON-BAD-INPUT @req:NO-SECRET-IN-RESPONSE
    Scenario: A token request with the secret in both the header and the body is refused as malformed
      Given the server advertises client secrets in the request body as well
      And a client whose own secret gets a token
      When the client asks for a token with its secret in both the header and the body
      Then the token request is refused as malformed

    @req:RFC6749-5.2-UNSUPPORTED-GRANT-TYPE @req:RFC6749-5.2-ERROR-RESPONSE @req:NO-5XX-ON-BAD-INPUT
    @req:NO-SECRET-IN-RESPONSE
    Scenario: A token request for a grant type the server does not offer is refused as unsupported
      Given a client whose own secret gets a token
      When the client asks for a token of a grant type the server does not offer
      Then the token request is refused as an unsupported grant type

  Rule: Only a client allowed the client credentials grant gets a token

    @req:RFC6749-5.2-UNAUTHORIZED-CLIENT @req:RFC6749-5.2-ERROR-RESPONSE @req:NO-5XX-ON-BAD-INPUT
    @req:NO-SECRET-IN-RESPONSE
    Scenario: A client registered without the client credentials grant is refused as not allowed that grant
      Given a client whose own secret gets a token
      When the administrator registers a second client like it but without the client credentials grant
      And the client without the client credentials grant asks for a token with its secret
      Then the token request is refused as a client not allowed that grant

  Rule: The client id and secret are form-urlencoded before base64

    @req:RFC6749-2.3.1-FORM-ENCODED
    Scenario: A secret with reserved characters, form-urlencoded, gets a token
      Given a client registered for the client credentials grant with a secret of reserved characters
      And a wrong secret for that client gets no token
      When the client asks for a token with its secret
      Then a token is issued for the form-urlencoded secret

  Rule: Only the token the server issued serves requests

    @req:RFC6749-7-VALIDATE-TOKEN
    Scenario: A token with one character changed is refused
      Given a client whose own secret gets a token
      And the token serves the documented search
      When the client searches with its token changed in one character
      Then the changed token is refused

  Rule: A token ends with its client

    @req:TOKEN-ENDS-WITH-CLIENT
    Scenario: A token stops working once its client is deleted
      Given a client whose own secret gets a token
      And the token serves the documented search
      When the administrator deletes the token's client
      And the client searches again with its token
      Then the token is refused
