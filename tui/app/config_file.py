"""Write one table of the config file, keeping everything else the person wrote in it.

``tomllib`` reads TOML but does not write it, and a full writer would reformat the
file (and drop its comments): only the ``[preferences]`` table is replaced, its
values strings, numbers, booleans and inline tables of strings (the voice per language).
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

Value = str | float | int | bool | dict[str, str]


def toml_value(value: Value) -> str:
    """A TOML literal for a value (a dict as an inline table with quoted keys)."""
    if isinstance(value, dict):
        pairs = (f"{toml_value(key)} = {toml_value(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # JSON's string escapes (\\", \\\\, \\n, \\uXXXX) are all valid in a TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def replace_table(text: str, table: str, values: dict[str, Value]) -> str:
    """``text`` with ``[table]`` holding exactly ``values`` (in place, or appended)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _header(line) == table), None)
    body = [f"{key} = {toml_value(value)}" for key, value in values.items()]
    block = [f"[{table}]", *body] if body else []
    if start is None:
        kept = lines + ([""] if lines and lines[-1].strip() and block else []) + block
    else:
        end = next((i for i in range(start + 1, len(lines)) if _header(lines[i])), len(lines))
        kept = lines[:start] + block + ([""] if end < len(lines) and block else []) + lines[end:]
    result = "\n".join(kept).strip("\n") + "\n"
    tomllib.loads(result)  # never write a file the app could not read back
    return result


def write_table(path: Path, table: str, values: dict[str, Value]) -> None:
    """Replace ``[table]`` in the file at ``path`` (created if missing), atomically."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    updated = replace_table(text, table, values)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(updated, encoding="utf-8")
    os.replace(temporary, path)


def _header(line: str) -> str | None:
    """The table a ``[name]`` header line opens (None for other lines and ``[[arrays]]``)."""
    stripped = line.split("#", 1)[0].strip()
    if stripped.startswith("[") and not stripped.startswith("[[") and stripped.endswith("]"):
        return stripped[1:-1].strip()
    return None
