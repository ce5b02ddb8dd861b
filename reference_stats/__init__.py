"""Shipped reference statistics (data files and manifest); read them with `gan_eval.sources.references`."""
