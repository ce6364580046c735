"""Input is bounded: hostile or mistyped files and values fail fast with one line.

Each case is a fresh ``biril`` process; the subprocess timeout bounds how long it may take
(a bomb that expanded would run out of it), the assertions are on what it printed.
"""

from __future__ import annotations

import pytest
import yaml
from test_cli import biril, error_line

from biril.bounded_input import (
    MAX_ALIASES,
    MAX_FILE_BYTES,
    InputTooLarge,
    check_expanded_size,
    clip,
)
from biril.config import RatioYAMLLoader, read_yaml
from results.errors import quote

# "Billion laughs": nine levels of nine aliases each, 9^9 = 387 million strings expanded.
BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
) + "epochs: *i\n"


def test_the_bomb_is_the_classic_one():
    """The reference: PyYAML's plain loader builds it lazily (shared lists), 9^9 leaves."""
    data = yaml.load(BOMB, Loader=yaml.SafeLoader)
    level, leaves = data["epochs"], 1
    while isinstance(level, list):
        leaves *= len(level)
        level = level[0]
    assert leaves == 9**9


@pytest.mark.parametrize("where", ["train", "sweep"])
def test_an_alias_bomb_fails_at_once_with_one_line(tmp_path, where):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB if where == "train" else BOMB.replace("epochs:", "description:"))
    args = ["train", "--config", str(path)] if where == "train" else ["sweep", str(path)]
    line = error_line(biril(*args, timeout=60))
    assert str(path) in line and "aliases expand to more than" in line


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_config_fails_at_once_with_one_line(device):
    line = error_line(biril("train", "--config", device, timeout=60))
    assert line == f"error: --config {device}: refused, not a regular file; pass a YAML file"


def test_a_config_past_the_size_cap_is_refused_unparsed(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))  # valid YAML, all comment
    line = error_line(biril("train", "--config", str(path), timeout=60))
    assert "larger than 1 MB" in line


def test_aliases_past_the_count_limit_are_refused_even_when_small(tmp_path):
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    path = tmp_path / "many.yaml"
    path.write_text(text)
    with pytest.raises(Exception, match=f"more than {MAX_ALIASES} aliases"):
        read_yaml(path)
    path.write_text("a: &a 1\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n")
    assert yaml.load(path.read_text(), Loader=RatioYAMLLoader)["b"] == [1] * MAX_ALIASES


def test_expanded_size_counts_shared_values_each_time_they_appear():
    leaf = [1, 2, 3]  # 4 values: the list and its three numbers
    check_expanded_size([leaf] * 24, limit=1 + 24 * 4)
    with pytest.raises(InputTooLarge):
        check_expanded_size([leaf] * 25, limit=1 + 24 * 4)
    loop: list = []
    loop.append(loop)
    with pytest.raises(InputTooLarge, match="refers to itself"):
        check_expanded_size(loop)


def test_messages_quote_at_most_200_characters_of_input():
    assert clip("x" * 200) == "x" * 200
    assert clip("x" * 5000) == "x" * 200 + "…[4800 more]"
    assert len(quote(list(range(10**6)))) <= 200
    assert len(quote("y" * 10**6)) <= 200


@pytest.mark.parametrize(
    "args,flag",
    [
        (["--batch-size", "1000000000"], "--batch-size: Input should be less than or equal"),
        (["--epochs", "1000000000"], "--epochs: Input should be less than or equal"),
        (["--time-steps", "100000"], "--time-steps: Input should be less than or equal"),
        (["--lr", "inf"], "--lr: Input should be a finite number"),
        (["--lr", "nan"], "--lr: Input should be a finite number"),
        (["--output-dir", ""], "--output-dir: is empty"),
        (["--dataset", "d" * 5000], "--dataset: unknown dataset 'ddd"),
    ],
)
def test_numbers_past_their_physical_bounds_are_one_line(args, flag):
    line = error_line(biril("train", *args))
    assert flag in line and len(line) < 400


def test_a_huge_epochs_in_yaml_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 1.0e+29\n")  # a float YAML 1.1 reads as 10^29
    assert f"{path}: epochs: " in error_line(biril("train", "--config", str(path)))
