Feature: API failure conditions and the route the bot takes
  The lead bot looks the user up in the CRM; whatever goes wrong there, the
  quote goes on without it, and the captured call says why it failed.

  Background:
    Given the bot "../bots/leads.yaml" on channel "web"

  Scenario: the CRM answers 500
    Given the API "crm_lookup" answers 500
    When the user says "quote"
    And the user says "ada@example.com"
    Then the API "crm_lookup" failed with "status"
    And the API "crm_lookup" answered 500
    And the bot's reply contains "couldn't check our customer records"
    And the conversation is in module "quote_details"
    And the property "customer" is not set

  Scenario: the CRM refuses the connection
    Given the API "crm_lookup" refuses the connection
    When the user says "quote"
    And the user says "ada@example.com"
    Then the API "crm_lookup" failed with "connection"
    And the conversation is in module "quote_details"

  Scenario: the CRM answers a body that is not JSON
    Given the API "crm_lookup" answers with a body that is not JSON
    When the user says "quote"
    And the user says "ada@example.com"
    Then the API "crm_lookup" failed with "invalid_response"

  Scenario: the quote service is down and the user is offered a way on
    Given the API "crm_lookup" answers 200 with {"known": true, "plan": "business"}
    And the API "quote" answers 503
    When the user says "quote"
    And the user says "ada@example.com"
    Then the branch "known customer" is taken
    And the property "crm_plan" is "business"
    When the user says "20"
    And the user taps "Starter"
    Then the API "quote" answered 503
    And the bot offers the quick replies "Try again", "Talk to sales"
    And the conversation ends with a call to action
