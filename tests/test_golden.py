r"""No behaviour change: the training and unlearning loops reproduce the
golden values recorded before the orchestration redesign
(``tests/golden/record.py``) to 1e-6."""
import json

import pytest

from tests.golden import record

GOLDEN = json.loads(record.GOLDEN_FILE.read_text())


@pytest.fixture(scope="module")
def dataset():
    return record.golden_dataset()


def _compare(key, values):
    expected = GOLDEN[key]
    assert set(values) == set(expected), key
    for name, want in expected.items():
        got = values[name]
        if want is None:
            assert got is None, (key, name)
        else:
            assert got == pytest.approx(want, abs=1e-6), (key, name, got, want)


@pytest.mark.parametrize("model", record.MODELS)
@pytest.mark.parametrize("objective", record.OBJECTIVES)
def test_training_matches_golden(model, objective, dataset, single_thread):
    _compare(f"train/{model}/{objective}",
             record.train_value(model, objective, dataset))


@pytest.mark.parametrize("kind", record.KINDS)
def test_unlearning_matches_golden(kind, dataset, single_thread):
    _compare(f"unlearn/lightgcn/{kind}", record.unlearn_value(kind, dataset))


def test_golden_covers_every_model():
    from mmgraph import list_models
    assert set(record.MODELS) <= set(list_models())
