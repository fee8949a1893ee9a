import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def em_small() -> np.ndarray:
    """A small isotropic EM-like ground truth (float32 in [0, 1])."""
    from axialsr.synthetic import em_neuropil

    return em_neuropil((32, 48, 48), seed=1)
