"""The ``biril`` command line: the top floor, the one package that imports all the others.

Modules, one per command (each parses, calls a package's library, prints): ``train``
(flags made from ``TrainConfig`` by ``flags``), ``bench``, ``datasets``, ``doctor``,
``sweep``, ``report`` (``best`` and ``report``), ``cluster`` (``cluster``, ``submit``,
``jobs``); ``main`` assembles them and turns every user error into one line.
"""
