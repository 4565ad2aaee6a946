from __future__ import annotations

from pathlib import Path

import pytest

from stylecast.errors import InputError
from stylecast.train.config import load_config, parse_override
from tests.conftest import REPO


def test_every_shipped_recipe_loads() -> None:
    for recipe in sorted((REPO / "configs").glob("*.toml")):
        config = load_config(recipe)
        assert config.data.styles, recipe
        assert all(s.name for s in config.data.styles)


def test_overrides_are_typed_toml(tmp_path: Path) -> None:
    assert parse_override("loss.style_weight=5e-4") == (["loss", "style_weight"], 5e-4)
    assert parse_override("data.content=/x/y") == (["data", "content"], "/x/y")
    config = load_config(REPO / "configs" / "tiny.toml", ["run.steps=7", "loss.gan_mode='hinge'"])
    assert config.run.steps == 7 and config.loss.gan_mode == "hinge"


def test_credits_come_from_a_manifest_beside_the_painting(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("file,artist,title,year,public_domain,origin\n"
                                           "style/p.jpg,Ann Artist,Sea,1901,PD,museum\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[data]\ncontent=["x"]\n[[data.styles]]\npath="{tmp_path / "p.jpg"}"\n')
    style = load_config(recipe).data.styles[0]
    assert (style.name, style.artist, style.title, style.year) == ("p", "Ann Artist", "Sea", "1901")


@pytest.mark.parametrize("text, message", [
    ("[data\n", "not valid TOML"),
    ("[loss]\nstyle_wieght = 1\n", "unknown config keys ['style_wieght']"),
    ("[run]\nsteps = 'many'\n", "must be a number"),
])
def test_bad_recipes_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text(text)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(recipe)
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
