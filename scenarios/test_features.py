"""Runs the example Gherkin features with plain ``pytest scenarios/``; the
steps come from the ``audience`` pytest plugin (simulator.steps)."""

from pytest_bdd import scenarios

scenarios("features")
