"""``vigil replay SESSION``: a recorded session's frames re-run through the estimator and the
decider in-process under an isolated key prefix, diffed frame by frame against the recorded
answers (docs/evaluation.md)."""
