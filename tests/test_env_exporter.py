"""The pure .env writer: only the named lines change, every other byte stays."""

from __future__ import annotations

from port_server.exporters import EXPORTERS
from port_server.exporters.env_file import render_env, update_env_text


def test_render() -> None:
    assert render_env({"PG_PORT": 5433, "WEB_PORT": 3000}) == "PG_PORT=5433\nWEB_PORT=3000\n"
    assert EXPORTERS["env"] is render_env


def test_update_keeps_everything_else() -> None:
    text = ("# header\n\nexport PG_PORT = 5432   # db\nPG_PORT_OLD=1\nQUOTED='x y'\n"
            "WEB_PORT=\"3000\"\nWEB_PORT=3000\nLAST=1")
    update = update_env_text(text, {"PG_PORT": 6000, "WEB_PORT": 3000, "NEW_PORT": 7})
    assert update.text == ("# header\n\nexport PG_PORT = 6000   # db\nPG_PORT_OLD=1\n"
                           "QUOTED='x y'\nWEB_PORT=\"3000\"\nWEB_PORT=3000\nLAST=1\nNEW_PORT=7\n")
    assert (update.changed, update.added, update.unchanged) == (["PG_PORT"], ["NEW_PORT"],
                                                                ["WEB_PORT"])


def test_update_of_empty_file_and_no_change() -> None:
    assert update_env_text("", {"A_PORT": 1}).text == "A_PORT=1\n"
    same = "A_PORT=1\r\n"
    assert update_env_text(same, {"A_PORT": 1}).text == same
