@security
Feature: The BPP refuses what it must not accept (BECKN-006, TSD §13)
  The harness plays a hostile BAP. A request with a bad signature or an invalid body must be
  refused synchronously with a NACK (401 with WWW-Authenticate for authentication, 400 for a
  schema error) and never answered with a callback. A second registered BAP, correctly
  signed as itself, must not see, change or follow the order of the harness's BAP: each of
  its requests about that order is refused, with a NACK or with a callback carrying an error
  and nothing of the order.
  A refusal counts only beside a control: the same BPP, in the same run, acknowledges a
  correctly signed, valid select (and serves an order to the BAP that placed it); if it does
  not, the probes are not evaluated and the report says why.

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

  Scenario: Another BAP can neither see, change nor follow the BAP's order
    Given a confirmed order for 2 kWh on the candidate's charger
    And the BPP answers the BAP's own status request with the order
    When a second registered BAP, signing as itself, asks for the status of the order, tracks it, starts its charging session and cancels it
    Then the BPP refuses each of them without revealing the order
    And the BAP's own status request still shows the order as it was
    And no callback about the order goes to the second BAP
