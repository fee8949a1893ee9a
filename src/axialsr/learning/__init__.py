"""What learns: the networks, the priors and their training (the lateral regressor's plane pairs, the
diffusion priors), the optimisation loop, the implicit neural field and its fit, score distillation and
diffusion sampling."""
