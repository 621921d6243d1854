@security
Feature: The app refuses callbacks it must not accept (BECKN-006, TSD §13)
  The harness plays a hostile BPP: the BPP the app is ordering from, sending the app callbacks
  at its Beckn endpoint. Each bad one must be refused synchronously with a NACK (401 with
  WWW-Authenticate for a signature problem, a 4xx for a transaction the app never started, a
  callback it already took or one out of order), and the order the app shows the driver must
  not change. A refusal counts only beside a control: the same app, in the same scenario,
  acknowledges a correctly signed on_status that restates its order; if it refuses that (or
  the harness's callbacks on the way to the order), the probes are not evaluated and the
  report says why.

  Background:
    Given the driver holds an order in the app, estimated by the harness BPP
    And the app acknowledges a correctly signed on_status from the harness BPP restating it

  Scenario Outline: A callback with a bad signature is refused with 401 and changes nothing
    When the harness BPP sends the app an on_status <defect>
    Then the app refuses it with HTTP 401, a NACK and a WWW-Authenticate header
    And the order the app shows is unchanged

    Examples:
      | defect                               |
      | without a signature                  |
      | whose body was changed after signing |
      | whose signature expired an hour ago  |
      | signed with a key nobody registered  |

  Scenario: A callback for a transaction the app never started is refused
    When the harness BPP sends the app an on_status for a transaction the app never started
    Then the app refuses it with a 4xx NACK
    And the order the app shows is unchanged

  Scenario: A second copy of a callback the app already took is refused
    When the harness BPP sends the app the on_confirm it already took, again
    Then the app refuses it with a 4xx NACK
    And the order the app shows is unchanged

  Scenario: A callback about the order from another BPP is refused
    When a second registered BPP, signing as itself, sends the app an on_status about the order
    Then the app refuses it with a 4xx NACK
    And the order the app shows is unchanged

  Scenario: A callback out of order is refused
    When the harness BPP sends the app an on_update out of order, stamped before the on_confirm it took and putting the order back to CREATED
    Then the app refuses it with a 4xx NACK
    And the order the app shows is unchanged
