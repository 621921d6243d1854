@client_api
Feature: The app's client API withstands malformed calls (client API contract)
  The harness plays a careless or hostile client of the app's /v1 API. For every operation of
  the contract (schemas/openapi/client-api.yaml) it sends calls generated from it, some with
  data the contract allows and some with data that breaks it, from a fixed seed, so every run
  sends the same calls (the transcript names the plan and each call). The calls carry the
  app's token and name the order the driver holds, so they reach the app's handling of the
  data rather than stop at its first check.

  The app must refuse every call made without its token, or with another, with 401 and a
  Bearer challenge. It must answer no call with a server error: malformed input is refused
  with a 4xx; a 502 or 504 stands only where the CDS or BPP behind the call failed, never for
  input the app forwarded instead of refusing it. Every answer has a status the contract
  gives the operation, and that status's shape. Every call and answer is in the transcript.

  Background:
    Given the driver holds an estimate from the app for a charger of the harness BPP

  Scenario: The app refuses every call without its token
    When a client calls every operation of the app's client API without a token, then with a wrong one
    Then the app refuses each call with HTTP 401 in the contract's error format

  Scenario: The app answers malformed and unexpected calls without a server error
    When a client calls every operation of the app's client API with generated data, valid and invalid
    Then the app answers none of the calls with a server error
    And every answer has a status and a shape the contract gives its operation
