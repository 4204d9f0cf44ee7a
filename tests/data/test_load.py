import shutil

import pytest

from mmgraph.cli import main
from mmgraph.data import DataFormatError, load_dataset


@pytest.fixture
def two(mmrec_folder):
    r"""A folder with two interaction files, ``other.inter`` and ``tiny.inter``."""
    shutil.copy(mmrec_folder / "tiny.inter", mmrec_folder / "other.inter")
    return mmrec_folder


def test_a_folder_of_two_inter_files_says_how_to_choose(two):
    with pytest.raises(DataFormatError) as e:
        load_dataset(two)
    msg = str(e.value)
    assert "found 2" in msg and f"giving its path, e.g. {two / 'other.inter'}" in msg


def test_the_inter_file_picks_the_dataset(two, tmp_path, capsys):
    ds = load_dataset(two / "other.inter")
    assert ds.name == "other" and ds.root == two and sorted(ds.features) == ["image", "text"]
    assert ds.fingerprint() == load_dataset(two, name="tiny").fingerprint()
    with pytest.raises(DataFormatError, match="names the dataset 'other', not 'tiny'"):
        load_dataset(two / "other.inter", name="tiny")
    with pytest.raises(DataFormatError, match="is a file; expected an MMRec folder or its "
                                              "NAME.inter file"):
        load_dataset(two / "image_feat.npy")
    # the command line takes it wherever it takes a dataset
    assert main(["info", str(two / "other.inter")]) == 0
    assert "dataset: other" in capsys.readouterr().out
    assert main(["prepare", "--format", "mmrec", "--interactions", str(two / "other.inter"),
                 "--name", "o", "--out", str(tmp_path / "o")]) == 0
    assert load_dataset(tmp_path / "o").fingerprint() == ds.fingerprint()
