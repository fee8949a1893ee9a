"""Scores against a ground truth (PSNR, SSIM, detail, coherence, membrane scores) and the synthetic volumes
the demo, the tests and the benchmarks score on."""
