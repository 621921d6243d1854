@rating
Feature: Rating a charging session in the driver's app (TSD §11.1)

  Scenario: The driver rates a completed session
    Given a completed charging session in the app
    When the driver rates the charging experience 4 out of 5 in the app
    Then the app sent a rating for the order
