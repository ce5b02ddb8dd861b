"""`python -m gan_eval` runs the command line."""

from gan_eval.cli.main import main

raise SystemExit(main())
