"""The ``audience`` command line: :mod:`plugin.cli.main` dispatches, one module
per group of commands declares them (:mod:`plugin.core.commands`)."""
