"""The conversation simulator: replays scenarios against a bot on the dummy
channel and checks the captured profile."""
