Feature: Credentials encoded as RFC 7617 allows are accepted
  RFC 9110 §11.1: the scheme name is case-insensitive. RFC 7617 §2: the user-id ends at the first
  colon, so a password may contain colons, and the password is taken as it was sent: only base64 was
  applied to it, never URL encoding. RFC 7617 §2.1: a server that advertises charset="UTF-8" takes
  credentials as UTF-8. Acceptance proves something only where refusal is possible, so each
  scenario first shows that a wrong secret for the same client is refused.

  Rule: The scheme name is case-insensitive

    @req:RFC9110-11.1-SCHEME
    Scenario Outline: Credentials under the scheme written <spelling> are accepted
      Given a client whose own credentials are accepted
      And a wrong secret for that client is refused
      When the client sends its credentials under the scheme written <spelling>
      Then the client is served

      Examples:
        | spelling |
        | basic    |
        | BASIC    |

  Rule: The user-id ends at the first colon

    @provisioning @req:RFC7617-2-FIRST-COLON
    Scenario: A secret containing colons is accepted
      Given a client registered with a secret containing colons
      And a wrong secret for that client is refused
      When the client authenticates with its secret containing colons
      Then the client is served

  Rule: The password is taken as it was sent, with no URL decoding

    @provisioning @req:RFC7617-2-PASSWORD-AS-SENT
    Scenario: A secret that URL decoding would change is accepted as it is
      Given a client registered with a secret containing + and %2B
      And a wrong secret for that client is refused
      When the client authenticates with that secret as it is
      Then the client is served

  Rule: Credentials are UTF-8 where the server says so

    @provisioning @req:RFC7617-2.1-UTF8
    Scenario: A secret with non-ASCII characters, sent as UTF-8, is accepted
      Given a client registered with a secret containing non-ASCII characters
      And a wrong secret for that client is refused
      And the server's challenge advertises UTF-8
      When the client authenticates with its non-ASCII secret encoded as UTF-8
      Then the client is served
