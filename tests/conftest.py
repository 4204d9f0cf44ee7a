import pytest


@pytest.fixture(scope="session")
def tiny_dataset():
    """A small two-modality synthetic dataset (image: high signal, text: low)."""
    from mmgraph.data import load_dataset
    return load_dataset("synthetic", num_users=120, num_items=80,
                        avg_degree=10, seed=0)


@pytest.fixture(scope="session")
def one_modality_dataset():
    from mmgraph.data import load_dataset
    return load_dataset("synthetic", num_users=100, num_items=60,
                        avg_degree=8, seed=1, modalities={"text": (24, 0.6)})


@pytest.fixture(scope="session")
def three_modality_dataset():
    from mmgraph.data import load_dataset
    return load_dataset("synthetic", num_users=100, num_items=60,
                        avg_degree=8, seed=2,
                        modalities={"image": (16, 0.8), "text": (12, 0.4),
                                    "audio": (8, 0.2)})


@pytest.fixture
def single_thread():
    """Bit-exact comparisons: multi-threaded CPU reductions may differ in the
    last bits between runs, one thread never does."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
