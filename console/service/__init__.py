"""`mailops serve`: the pipeline without a screen, its webhook receiver and its metrics."""
