r"""mmgraph.registry: one duplicate-name rule and one 'Did you mean' hint for
every registry (models, objectives)."""
import pytest

from mmgraph.errors import MMGraphError
from mmgraph.models.registry import MODELS
from mmgraph.registry import Registry, UnknownNameError
from mmgraph.train.objectives.base import OBJECTIVES


class Base:
    def __init__(self, dataset, dim: int = 8, rate: float = 0.5) -> None:
        pass


class Other(Base):
    pass


def test_register_sets_the_name_and_lists_sorted():
    reg = Registry("thing")
    reg.register("b")(Other)
    assert reg.register("a")(Base) is Base
    assert Base.registry_name == "a"
    assert reg.names() == ["a", "b"] and list(reg) == ["a", "b"]
    assert reg.names("a*") == ["a"]
    assert "a" in reg and "c" not in reg and len(reg) == 2


def test_same_class_again_is_a_no_op_another_class_raises():
    reg = Registry("thing")
    reg.register("a")(Base)
    reg.register("a")(Base)
    assert reg.get("a") is Base
    with pytest.raises(ValueError, match="'a' is already registered to Base"):
        reg.register("a")(Other)
    assert reg.get("a") is Base


@pytest.mark.parametrize("registry", [MODELS, OBJECTIVES])
def test_both_package_registries_follow_the_rule(registry):
    name = registry.names()[0]
    cls = registry.get(name)
    registry.register(name)(cls)  # no-op
    with pytest.raises(ValueError, match="already registered"):
        registry.register(name)(type("Impostor", (cls,), {}))
    assert registry.get(name) is cls


def test_unknown_name_is_one_line_with_a_hint():
    reg = Registry("model")
    reg.register("lightgcn")(Base)
    with pytest.raises(UnknownNameError) as e:
        reg.get("lightgnc")
    assert isinstance(e.value, KeyError) and isinstance(e.value, MMGraphError)
    assert str(e.value) == ("unknown model 'lightgnc'; registered: lightgcn."
                            " Did you mean 'lightgcn'?")
    with pytest.raises(UnknownNameError) as e:
        reg.get("zzz")
    assert "Did you mean" not in str(e.value)


def test_defaults_and_keyword_check_read_the_constructor():
    reg = Registry("model")
    reg.register("base")(Base)
    assert reg.defaults("base") == {"dim": 8, "rate": 0.5}
    reg.check_kwargs("base", ["dim"])
    with pytest.raises(UnknownNameError, match="no parameter 'dims'.*"
                       "Did you mean 'dim'"):
        reg.check_kwargs("base", ["dims"])
