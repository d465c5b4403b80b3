@provisioning
Feature: Registering a confidential client and its access policy
  The seed document, Steps 1 and 2: an administrator registers a Client with a secret and the
  "basic" grant (PUT /Client/{id}), then links it to an "allow" AccessPolicy (PUT /AccessPolicy/{id}).
  The suite registers its own client with a fresh random secret; it never uses the document's "secret".

  Rule: A client with a secret and the basic grant can be registered

    @req:SEED-CLIENT-REGISTER @req:SECRET-NOT-DISCLOSED
    Scenario: A client registered with a fresh secret keeps that secret to itself
      When the administrator registers a client with a fresh secret and the basic grant
      Then the registration is accepted
      And reading the client back does not disclose its secret

  Rule: An allow policy can be linked to the client

    @req:SEED-POLICY-CREATE
    Scenario: An allow policy linked to the client is accepted
      Given a newly registered client
      When the administrator links the client to an allow policy
      Then the policy is accepted
