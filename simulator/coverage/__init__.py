"""Coverage: what a simulate run or a pytest session touched of each bot, per
channel, and what it never touched, at its ``file:line``.

:mod:`~simulator.coverage.items` lists what there is to cover,
:mod:`~simulator.coverage.observer` follows in-process runs,
:mod:`~simulator.coverage.replay` reads captured timelines,
:mod:`~simulator.coverage.collector` gathers both, and
:mod:`~simulator.coverage.report` and :mod:`~simulator.coverage.html` show it.
:mod:`~simulator.coverage.options` is the command line's part, and imports
nothing heavy: every ``audience`` call loads it.
"""
