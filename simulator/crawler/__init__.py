"""``audience crawl``: a bot explored breadth-first on the dummy channel.

:mod:`~simulator.crawler.values` makes what the crawler types,
:mod:`~simulator.crawler.walk` replays one path, :mod:`~simulator.crawler.explore`
runs the crawl, :mod:`~simulator.crawler.findings` says what it found,
:mod:`~simulator.crawler.scenarios` writes the paths as scenario files, and
:mod:`~simulator.crawler.cli` is the command (loaded by every ``audience`` call,
so it imports the rest only when it runs).
"""
