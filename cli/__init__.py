"""The `gan-eval` command line (installed as `gan_eval.cli`)."""
