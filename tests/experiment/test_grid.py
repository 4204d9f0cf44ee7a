r""":func:`mmgraph.experiment.train_model`'s grid checks."""
import pytest

from mmgraph.config import ConfigError
from mmgraph.experiment import train_model


def test_an_empty_grid_axis_is_a_config_error_before_the_data_are_read(tmp_path):
    # the data are never read: a missing folder is not what is reported
    with pytest.raises(ConfigError, match=r"^model.n_layers: an empty list of values"):
        train_model("lightgcn", str(tmp_path / "missing"), overrides={"n_layers": []})
