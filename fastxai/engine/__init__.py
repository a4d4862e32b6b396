"""The batched engine: chunk sizing (:mod:`batching`), the perturbation loop (:mod:`perturb`)."""
