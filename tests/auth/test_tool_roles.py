"""PRYNAI_TOOL_ROLES parsing (the check itself runs against the real server in test_oauth_required.py)."""

from __future__ import annotations

import pytest

from prynai_mcp.auth.tool_roles import parse_tool_roles


def test_parses_pairs_and_joined_permissions() -> None:
    assert parse_tool_roles(["bump_counter=Mcp.Write", "wipe=Mcp.Admin+Mcp.Write", "bump_counter=Mcp.Audit"]) == {
        "bump_counter": ("Mcp.Write", "Mcp.Audit"),
        "wipe": ("Mcp.Admin", "Mcp.Write"),
    }


@pytest.mark.parametrize("entry", ["bump_counter", "=Mcp.Write", "bump_counter=", "bump_counter=+"])
def test_refuses_malformed_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="PRYNAI_TOOL_ROLES"):
        parse_tool_roles([entry])
