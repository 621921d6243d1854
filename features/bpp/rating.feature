@rating
Feature: Rating a charging session (TSD §11.1)

  Scenario: The driver rates a completed session
    Given a completed charging session on the candidate's charger
    When the BAP rates the charging experience 4 out of 5
    Then the BPP answers with an on_rating that acknowledges the rating
