@support
Feature: Asking for support in the driver's app (TSD §11.1)

  Scenario: The driver asks for support about a session
    Given a completed charging session in the app
    When the driver raises a support request about the order in the app
    Then the app sent a support request for the order
