@security
Feature: The BPP refuses what it must not accept (BECKN-006, TSD §13)
  The harness plays a hostile BAP. Each request must be refused synchronously with a NACK
  (401 with WWW-Authenticate for authentication, 400 for a schema error) and never answered
  with a callback. A refusal counts only beside a control: the same BPP, in the same run,
  acknowledges a correctly signed, valid select; if it refuses that too, the probes are not
  evaluated and the report says why.

  Background:
    Given the BPP acknowledges a correctly signed, valid select from the harness's BAP

  Scenario Outline: A select with a bad signature is refused with 401
    When the BAP sends a select <defect>
    Then the BPP refuses it with HTTP 401, a NACK and a WWW-Authenticate header
    And no on_select comes back for it

    Examples:
      | defect                                  |
      | without a signature                     |
      | whose body was changed after signing    |
      | whose signature expired an hour ago     |
      | created ten minutes in the future       |
      | signed with a key nobody registered     |
      | signed by a subscriber other than bap_id |

  Scenario: A replayed select is refused
    When the BAP replays a select the BPP already accepted
    Then the BPP refuses the replay with HTTP 401 and a NACK
    And only one on_select comes back

  Scenario: A schema-invalid select is refused with 400, not answered
    When the BAP sends a select whose order has no items
    Then the BPP refuses it with HTTP 400 and a NACK carrying the error
    And no on_select comes back for it
