@cancel
Feature: Cancelling an order through the driver's app (TSD §12.1)
  The same cancellations as features/bpp/cancel.feature, told from the app's side: the driver
  may cancel a confirmed order until charging starts, and the operator may cancel it too.
  The app passes the BPP's decision on: the fee and refund of its on_cancel, its refusal as
  the client API's 409, and what the order then is.

  Scenario: The driver cancels a confirmed order before charging
    Given a confirmed order for 2 kWh in the app
    When the driver asks the app what cancelling the order would cost
    Then the app shows the order ACTIVE, the payment PAID and charging IDLE
    When the driver cancels the order in the app
    Then the app sent a cancel for the order
    And the app shows the fee and the refund the BPP's on_cancel set
    And the app shows the order CANCELLED, the payment REFUNDED and charging IDLE

  Scenario: A cancel after charging started is refused
    Given a confirmed order for 2 kWh in the app
    And the driver plugged the car in and started charging from the app
    When the driver cancels the order in the app
    Then the app sent a cancel for the order
    And the app answers with the BPP's refusal as a 409 error
    And the app shows the order ACTIVE, the payment PAID and charging ACTIVE

  Scenario: The operator cancels a confirmed order
    Given a confirmed order for 2 kWh in the app
    When the operator cancels the order at the charge point
    Then the app acknowledges the BPP's unsolicited on_cancel
    And the app shows the order CANCELLED, the payment REFUNDED and charging IDLE
