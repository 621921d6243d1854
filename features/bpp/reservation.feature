@reservation
Feature: Reserving a charging slot (TSD §11.2)
  A driver plans a trip, searches for CCS2 chargers near the destination for a time window,
  books a slot, arrives, charges to an energy limit and the charger stops by itself.

  Scenario: A driver books a slot, arrives and the session stops at its energy limit
    Given the candidate BPP's catalog is discoverable through the CDS
    When the BAP discovers CCS2 chargers within 10 km for a time window
    Then the on_discover lists a CCS2 charger of the candidate
    When the BAP selects the charger for 2 kWh in a one-hour slot
    Then the BPP answers with an on_select quoting CREATED whose total adds up
    When the BAP initialises the order with the buyer's billing details
    Then the BPP answers with an on_init asking for payment of the quoted total
    When the driver pays through the payment link
    Then an unsolicited on_status reports the order PENDING and the payment COMPLETED
    When the BAP confirms the order
    Then the BPP answers with an on_confirm giving an order id, CONFIRMED, session PENDING
    When the driver arrives, plugs in and the BAP starts the charging session
    Then the BPP answers with an on_update showing INPROGRESS and the session ACTIVE
    When the BAP tracks the session
    Then the BPP answers with an on_track carrying live telemetry and a tracking URL
    When the charger delivers the energy limit
    Then an unsolicited callback reports the session COMPLETED with the metered bill
