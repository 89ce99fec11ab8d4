"""The reference bot runtime (bots written as YAML flows). Reaches Audience
only through a connector."""
