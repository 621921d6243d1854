@reservation
Feature: Reserving a charging slot through the driver's app (TSD §11.2)
  The same reservation as features/bpp/reservation.feature, told from the app's side: the
  driver plans a trip, searches the app for CCS2 chargers near the destination for a time
  window, books a one-hour slot, arrives, charges to an energy limit and the charger stops by
  itself. The slot must travel in the app's select (and in its init and confirm, when they
  restate it); what the app shows is held against the BPP's callbacks.

  Scenario: A driver books a slot in the app, arrives and the session stops at its energy limit
    Given the harness BPP's catalog is discoverable through the CDS
    When the driver searches the app for CCS2 chargers within 10 km for a time window
    Then the app found a CCS2 charger through a discover to the CDS
    When the driver asks the app for an estimate of 2 kWh at the charger in a one-hour slot
    Then the app selected the charger for the slot and shows a reservation at the total the BPP quoted
    When the driver pays through the app
    Then the app initialised the order and shows the amount the BPP asked for in on_init
    And the app confirms the order once the BPP reports the payment COMPLETED
    When the driver arrives, plugs the car in and starts charging from the app
    Then the app sent an update starting the session
    And the app shows the order ACTIVE, the payment PAID and charging ACTIVE
    When the driver looks at the order in the app while it charges
    Then the app sent a status request for the order
    When the charger delivers the energy limit
    Then the BPP reports the session COMPLETED, unsolicited, and the app acknowledges it
    And the app shows the order COMPLETED, the payment PAID and charging COMPLETED
