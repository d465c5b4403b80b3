Feature: Searching the FHIR API with a client's Basic credentials
  The seed document, Step 3: with "Authorization: Basic base64(client-id:secret)" the client searches
  GET {fhir-base}/Observation?code=4548-4&_count=2 and receives a searchset Bundle.
  FHIR R4 http (search, paging) and search (_count, token and reference parameters) say what that Bundle holds.

  Background:
    Given a client registered for Basic authentication and allowed by a policy

  Rule: The documented search answers a valid searchset Bundle

    @req:SEED-SEARCH-BASIC @req:FHIR-MIME-JSON @req:FHIR-BUNDLE-VALID @req:FHIR-SEARCH-SEARCHSET
    @req:FHIR-SEARCH-COUNT @req:SEED-SEARCH-CODE @req:FHIR-SEARCH-MODE @req:FHIR-BUNDLE-FULLURL
    @req:FHIR-BUNDLE-FULLURL-BASE @req:FHIR-SEARCH-TOTAL @req:FHIR-SEARCH-SELF-LINK
    Scenario: The documented search answers a valid searchset Bundle of matching Observations
      When the client searches for Observations with code 4548-4, two per page
      Then the search succeeds with a FHIR JSON answer
      And the answer is a valid searchset Bundle of at most two entries
      And every entry is an Observation with code 4548-4 and an absolute full URL
      And the answer reports the criteria it applied and its total

  Rule: Paging finds every match once, and nothing else

    @provisioning @req:FHIR-SEARCH-PAGING @req:FHIR-SEARCH-REFERENCE @req:SEED-SEARCH-CODE @req:FHIR-SEARCH-COUNT
    Scenario: Following next links finds exactly the patient's three matching Observations
      Given the suite's own patient with three Observations coded 4548-4, one coded otherwise, and another patient's
      When the client searches for that patient's Observations with code 4548-4, two per page, following every next link
      Then every page holds at most two entries
      And exactly the patient's three Observations coded 4548-4 are found, each once
