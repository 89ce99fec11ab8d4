Feature: Buttons and quick replies, on the web and on WhatsApp
  WhatsApp has no quick replies: they come out as numbered options at the
  end of the text, and the user answers with a number or a title.

  Scenario: quick replies on the web
    Given the bot "../bots/leads.yaml" on channel "web"
    When the user says "hi"
    Then the bot sends 2 messages
    And the bot replies "What's your name?"
    When the user says "Ada"
    Then the bot offers the quick replies "Get a quote", "Book a demo", "Talk to sales"
    And the property "name" is "Ada"
    When the user taps "Book a demo"
    Then the bot replies "Which phone number should we call to book your demo?"

  Scenario: the same choices as numbered options on WhatsApp
    Given the bot "../bots/leads.yaml" on channel "whatsapp"
    When the user says "hi"
    And the user says "Ada"
    Then the bot offers no quick replies
    And the bot offers the numbered options "Get a quote", "Book a demo", "Talk to sales"
    And the bot offers "Get a quote", "Book a demo", "Talk to sales"
    When the user taps "Talk to sales"
    Then the conversation is assigned to "human"
    And the conversation ends with a call to action

  Scenario: a bad email is refused and a good one stored
    Given the bot "../bots/leads.yaml"
    And the API "crm_lookup" answers 200 with {"known": false, "plan": ""}
    When the user says "quote"
    And the user says "not-an-email"
    Then the value for "email" is refused
    And the property "email" is not set
    When the user says "Ada@Example.com"
    Then the property "email" is "ada@example.com"
    And the bot does not fall back

  Scenario: starting mid-flow at the plan question's module
    Given the bot "../bots/leads.yaml" on channel "whatsapp"
    And the user's "email" is "ada@example.com"
    And the conversation starts at module "quote_details"
    And the API "quote" answers 200 with {"price": 360}
    Then the bot replies "How many seats do you need?"
    When the user says "18"
    And the user taps "Business"
    Then the bot's reply contains "It's on its way to ada@example.com."

  Scenario: a button of an earlier message interrupts the question, which comes back
    Given the bot "../bots/leads.yaml"
    When the user says "hi"
    And the user says "Ada"
    And the user taps "Get a quote"
    And the user taps "Book a demo" on an earlier message
    Then the bot replies "Which phone number should we call to book your demo?"
    And the property "email" is not set
    When the user says "+44 20 7946 0000"
    Then the bot replies "Which email should the quote go to?"
