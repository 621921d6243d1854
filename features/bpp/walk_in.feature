@walk_in
Feature: Walk-in charging without a reservation (TSD §11.1)
  A driver arrives at a station, scans the charger's QR code, pays for a money limit,
  plugs in, charges, stops, rates the session and asks for support.
  Every answer of the BPP is checked as it arrives: ACK within the bound, callback within
  the ttl, signed by the BPP's registered key, schema-valid, ids echoed.

  Scenario: A driver walks in, charges for a money limit and stops
    Given the candidate BPP's catalog is discoverable through the CDS
    When the BAP discovers the charger by its QR code
    Then the on_discover lists the scanned charger with a per-kWh tariff
    When the BAP selects the charger for 100 INR
    Then the BPP answers with an on_select quoting CREATED whose total adds up
    When the BAP initialises the order with the buyer's billing details
    Then the BPP answers with an on_init asking for payment of the quoted total
    When the driver pays through the payment link
    Then an unsolicited on_status reports the order PENDING and the payment COMPLETED
    When the BAP confirms the order
    Then the BPP answers with an on_confirm giving an order id, CONFIRMED, session PENDING
    When the driver plugs the car in and the BAP asks for the status
    Then the BPP answers with an on_status showing the connector PREPARING
    When the BAP starts the charging session
    Then the BPP answers with an on_update showing INPROGRESS and the session ACTIVE
    When the BAP tracks the session
    Then the BPP answers with an on_track carrying live telemetry and a tracking URL
    When the BAP stops the charging session
    Then the BPP answers with an on_update billing the metered energy, order and session COMPLETED
    And the order kept its id, item and price from on_select to the final bill
    When the BAP rates the charging experience 4 out of 5
    Then the BPP answers with an on_rating that acknowledges the rating
    When the BAP raises a support request about the order
    Then the BPP answers with an on_support giving support contact details
