@support
Feature: Asking for support (TSD §11.1)

  Scenario: The driver asks for support about a session
    Given a completed charging session on the candidate's charger
    When the BAP raises a support request about the order
    Then the BPP answers with an on_support giving support contact details
