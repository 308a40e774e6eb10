"""Change-plan notes for replaced data sources other than model stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_changes import (  # noqa: F401 (baseline and scratch_stack are fixtures)
    baseline,
    by_name,
    edit,
    planned,
    scratch_stack,
)

from preflight._changes import _data_source_replace_notes

WEIGHTS = "download the weights again"


def test_a_replaced_config_map_source_is_not_said_to_lose_weights(
    capsys: pytest.CaptureFixture[str],
    scratch_stack: tuple[str, Path],  # noqa: F811 (fixture)
    baseline: Path,  # noqa: F811 (fixture)
) -> None:
    name, path = scratch_stack

    def rename_map(config: dict[str, Any]) -> None:
        config["runai-hf:dataSources"][0].update(configMap="other-template")

    edit(path, rename_map)

    changes = by_name(planned(capsys, name, baseline))

    source = changes["chat-template"]
    assert source["action"] == "replace"
    assert not any(WEIGHTS in note for note in source["notes"])
    assert any("a new Run:ai data source asset" in n for n in source["notes"])
    assert any("mount it inline" in note for note in source["notes"])


@pytest.mark.parametrize("kind", ["config-map", "secret", "nfs", "host-path", "git"])
def test_only_a_new_pvc_model_store_downloads_the_weights_again(kind: str) -> None:
    assert not any(WEIGHTS in n for n in _data_source_replace_notes({"kind": kind}))
    assert any(WEIGHTS in n for n in _data_source_replace_notes({"kind": "pvc"}))
    assert _data_source_replace_notes({"kind": "pvc", "existingPvc": True}) == []
