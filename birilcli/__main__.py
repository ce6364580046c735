"""``python -m birilcli``: the ``biril`` command."""

from .main import main

main()
