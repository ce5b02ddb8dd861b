"""`python -m gan_eval` runs the command line."""

from gan_eval.cli.main import entry_point

raise SystemExit(entry_point())
