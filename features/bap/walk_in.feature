@walk_in
Feature: Walk-in charging through the driver's app (TSD §11.1)
  The same walk-in as features/bpp/walk_in.feature, told from the app's side: the harness is
  the driver calling the app's /v1 client API, and plays the registry, the CDS, the BPP and
  its charger. Every Beckn request the app sends is checked as it arrives: signed by the
  app's registered key under its bap_id, schema-valid, a fresh message_id, one transaction_id
  for the order, in the flow's order. What the app shows is held against the BPP's callbacks:
  amounts, and in every answer the order, payment and charging states and the telemetry the
  BPP last reported.

  Scenario: A driver walks in, charges for an energy limit and stops
    Given the harness BPP's catalog is discoverable through the CDS
    When the driver searches the app for chargers near the site
    Then the app found the charger through a discover to the CDS
    When the driver asks the app for an estimate of 20 kWh at the charger
    Then the app selected the charger and shows the total the BPP quoted in on_select
    When the driver pays through the app
    Then the app initialised the order and shows the amount the BPP asked for in on_init
    And the app confirms the order once the BPP reports the payment COMPLETED
    When the driver plugs the car in and starts charging from the app
    Then the app sent an update starting the session
    And the app shows the order ACTIVE, the payment PAID and charging ACTIVE
    When the driver looks at the order in the app while it charges
    Then the app sent a status request for the order
    When the driver stops charging from the app
    Then the app sent an update stopping the session
    And the app shows the bill the BPP sent in on_update
    And the app shows the order COMPLETED and charging COMPLETED
    When the driver rates the charging experience 4 out of 5 in the app
    Then the app sent a rating for the order
    When the driver raises a support request about the order in the app
    Then the app sent a support request for the order
