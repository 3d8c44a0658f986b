"""``python -m sklearn_em``: the ``sklearn-em`` command line."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
