@corner_cases
Feature: Corner cases of the TSD (§12)

  Scenario: An overlapping slot is rejected at on_select (§12.4)
    Given a confirmed order for a one-hour slot on the candidate's charger
    When another driver selects the same charger for an overlapping slot
    Then the BPP answers with an on_select REJECTED with error 40000

  Scenario: A start the charger cannot perform is refused (BECKN-005)
    Given a confirmed order for 2 kWh on the candidate's charger
    And the charger has developed a fault
    When the driver arrives, plugs in and the BAP starts the charging session
    Then the BPP refuses the start with error 40006 and the order is not in progress

  Scenario: An interrupted session is reported without being asked (§12.2)
    Given a charging session in progress on the candidate's charger
    When the cable is pulled out of the car
    Then an unsolicited on_status reports the session INTERRUPTED with a new message id

  Scenario: The driver stops early and the unused amount is refunded (§12.3, §12.5.1)
    Given a charging session in progress on the candidate's charger
    When the BAP stops the charging session
    Then the BPP answers with an on_update billing the metered energy, order and session COMPLETED
    And an unsolicited on_status reports the payment REFUNDED

  Scenario: A session that overran its limit is carried into the next quote (§12.5.2)
    Given a charging session on the candidate's charger that overran its paid limit
    When the same driver selects the charger again for 2 kWh
    Then the BPP answers with an on_select carrying the outstanding balance
