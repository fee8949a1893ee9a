"""Jobs built from the methods: one restoration (normalise, run a method, project onto the measurements),
blockwise runs of larger-than-memory volumes, validation without ground truth, and model export."""
