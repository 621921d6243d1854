@corner_cases
Feature: Corner cases of the TSD (§12), told from the driver's app
  The same corner cases as features/bpp/corner_cases.feature, from the app's side: the harness
  plays the BPP and its charger, and makes the world happen on the charger (the cable pulled,
  a minute of charging, another driver's booking). What the BPP tells the app without being
  asked must be acknowledged and show in the order the app shows the driver; what the BPP
  refuses must reach the driver as an error, never as a quote.

  Scenario: An interrupted session shows in the app (§12.2)
    Given a charging session in progress in the driver's app
    When the cable is pulled out of the car
    Then the app acknowledges the BPP's unsolicited on_status reporting the session INTERRUPTED
    And the app shows the driver the order as the BPP last reported it, charging no longer ACTIVE

  Scenario: The driver stops early and the app shows the refund (§12.3, §12.5.1)
    Given a charging session in progress in the driver's app
    When the driver stops charging from the app
    Then the app acknowledges the BPP's unsolicited on_status reporting the payment REFUNDED
    And the app shows the driver the order as the BPP last reported it, payment REFUNDED and order COMPLETED

  Scenario: A start the charger cannot perform is refused, and the app tells the driver so (BECKN-005)
    Given a confirmed order for 2 kWh in the app
    And the charger has developed a fault
    When the driver plugs the car in and tries to start charging from the app
    Then the BPP answers the app's update with an on_update REJECTED with error 40006
    And the app answers the driver with HTTP 409 in the contract's error format, not a start

  Scenario: An overlapping slot is refused, and the app tells the driver so (§12.4)
    Given the harness BPP's catalog is discoverable through the CDS
    When the driver searches the app for chargers near the site
    And another driver holds the charger the app found for a one-hour slot
    And the driver asks the app for an estimate of 10 kWh for a slot overlapping it
    Then the BPP answers the app's select with an on_select REJECTED with error 40000
    And the app answers the driver with HTTP 409 in the contract's error format, not a quote
