@cancel
Feature: Cancelling an order (TSD §12.1)
  A driver may cancel a confirmed order until charging starts; the operator may cancel too.

  Scenario: The driver cancels a confirmed order before charging
    Given a confirmed order for 2 kWh on the candidate's charger
    When the BAP cancels the order
    Then the BPP answers with an on_cancel: order CANCELLED, payment REFUNDED, fee per its terms

  Scenario: A cancel after charging started is refused
    Given a confirmed order for 2 kWh on the candidate's charger
    And the charging session has started
    When the BAP cancels the order
    Then the BPP refuses the cancellation with error 50001 and the order stays INPROGRESS

  Scenario: The operator cancels a confirmed order
    Given a confirmed order for 2 kWh on the candidate's charger
    When the operator cancels the order at the charge point
    Then an unsolicited on_cancel reports the order CANCELLED with a new message id
