"""Where the client keeps its files: an override, else the platform's per-user folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyalert.client.paths import cache_dir, config_dir, state_dir


def test_overrides_win_then_the_xdg_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert state_dir() == tmp_path / "state"  # the autouse fixture's override
    for kind in ("CONFIG", "CACHE", "STATE"):
        monkeypatch.delenv(f"SKYALERT_CLIENT_{kind}_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xk"))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_dir() == tmp_path / "xc" / "skyalert-client"
    assert cache_dir() == tmp_path / "xk" / "skyalert-client"
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "skyalert-client"
