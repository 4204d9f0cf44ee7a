import pytest

from mmgraph.cli import main
from mmgraph.config import ConfigError
from mmgraph.experiment.resolve import read_yaml_mapping


@pytest.mark.parametrize("text,where,found", [
    # a key indented less than its block: PyYAML's first line is only the context
    ("train:\n  epochs: 1\n bad: 2\n", "line 3, column 2",
     "expected <block end>, but found '<block mapping start>' (while parsing a block "
     "mapping started at line 1)"),
    ("model:\n  a: 1\n   b: 2\n", "line 3, column 5", "mapping values are not allowed here"),
    ("a: [1, 2\n", "line 2, column 1", "expected ',' or ']'"),
])
def test_a_yaml_error_names_its_line(tmp_path, text, where, found):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        read_yaml_mapping(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}, {where}: not valid YAML: ") and found in msg


def test_train_config_with_bad_indentation_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad1.yaml"
    path.write_text("train:\n  epochs: 1\n bad: 2\n")
    assert main(["train", "--model", "mf", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {path}, line 3, column 2: not valid YAML: expected <block end>, "
                   "but found '<block mapping start>' (while parsing a block mapping started "
                   "at line 1)"]
