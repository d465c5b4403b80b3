Feature: SMART discovery advertises the token endpoint and client-secret authentication
  SMART App Launch (Conformance, "FHIR Authorization Endpoint and Capabilities Discovery"): every FHIR endpoint
  requiring authorization serves a JSON document at its base URL + /.well-known/smart-configuration, naming the
  token endpoint, the grant types and the SMART capabilities it supports. A client reads it before it holds any
  credential. What the token endpoint accepts must be advertised there: a client secret in HTTP Basic is
  client_secret_basic, and the capability client-confidential-symmetric.

  Rule: The configuration is served to anyone, as JSON, with the required fields

    @req:SMART-DISCOVERY @req:SMART-DISCOVERY-FIELDS
    Scenario: The SMART configuration is served without credentials and names the token endpoint
      When anyone asks for the server's SMART configuration
      Then the configuration is served as JSON
      And it names a token endpoint, the grant types and the capabilities

  Rule: What the token endpoint accepts is advertised

    @provisioning @req:SMART-DISCOVERY-CAPABILITIES @req:SMART-DISCOVERY-AUTH-METHODS
    Scenario: Client-secret authentication that the token endpoint accepts is advertised
      Given the server's SMART configuration names a token endpoint
      And a client registered for the client credentials grant and allowed by a policy
      When the client asks for a token with its secret
      Then the configuration advertises the client-secret authentication the token endpoint accepted
