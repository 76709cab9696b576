"""What a speech engine should say for a segment of Markdown transcript.

The transcript keeps its Markdown for the screen; speech gets the words only:
markup removed, links read as their text, bare URLs as their host, a code block
as a short phrase pointing at the screen, emoji dropped.
"""

from __future__ import annotations

import html
import re
from typing import Final

_FENCE: Final = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)(?:\n|\Z)(?P<body>.*?)"
    r"(?:^[ \t]*(?P=fence)[`~]*[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_CODE_SPAN: Final = re.compile(r"(`+)(?P<code>.+?)\1", re.DOTALL)
_ESCAPE: Final = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_IMAGE: Final = re.compile(r"!\[(?P<alt>[^\]]*)\]\([^)]*\)")
_LINK: Final = re.compile(r"\[(?P<text>[^\]]+)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK: Final = re.compile(r"<(?P<url>(?:https?|ftp)://[^>\s]+)>")
_URL: Final = re.compile(r"\b(?:(?:https?|ftp)://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_URL_TRAILER: Final = ".,;:!?)]}'\""
_TAG: Final = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_RULE: Final = re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
# Each repetition starts with a mandatory "|", so a long line of dashes cannot backtrack.
_TABLE_SEPARATOR: Final = re.compile(
    r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*"
)
_LINE_MARKERS: Final = re.compile(
    r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:#{1,6}(?=[ \t]|$)|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))?"
    r"[ \t]*(?:\[[ xX]\][ \t]+)?"
)
_HEADING_TAIL: Final = re.compile(r"[ \t]+#+[ \t]*$")
_EMPHASIS: Final = (
    re.compile(r"(\*\*|__)(?=\S)(?P<inner>.+?)(?<=\S)\1"),
    re.compile(r"~~(?=\S)(?P<inner>.+?)(?<=\S)~~"),
    re.compile(r"(?<![\w*])\*(?=[^\s*])(?P<inner>.+?)(?<=[^\s*])\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?=[^\s_])(?P<inner>.+?)(?<=[^\s_])_(?![\w_])"),
)
# Unpaired emphasis left by a segment boundary: markers at the edge of a word only,
# so 2*3 and snake_case survive.
_STRAY_MARKERS: Final = re.compile(r"(?<!\S)(?:\*+|_+|~~)(?=\S)|(?<=\S)(?:\*+|_{2,}|~~)(?!\S)")
_EMOJI: Final = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, symbols
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats
    "\u2b00-\u2bff"  # arrows and stars such as ⭐
    "\u231a\u231b\u23e9-\u23fa"  # watch, hourglass, media buttons
    "\ufe0e\ufe0f\u200d\u20e3"  # presentation selectors, joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters in subdivision flags
    "]"
)
# A space left before punctuation where an emoji or tag was removed.
_SPACE_BEFORE_PUNCT: Final = re.compile(r" (?=[,.;:!?](?:\s|$))")
_CODE_PLACEHOLDER: Final = re.compile("\ue000(\\d+)\ue001")
_LANGUAGES: Final = {
    "py": "Python", "python": "Python", "python3": "Python", "js": "JavaScript",
    "javascript": "JavaScript", "jsx": "JavaScript", "ts": "TypeScript", "tsx": "TypeScript",
    "typescript": "TypeScript", "sh": "shell", "bash": "shell", "zsh": "shell",
    "shell": "shell", "console": "shell", "shell-session": "shell", "ps1": "PowerShell",
    "powershell": "PowerShell", "json": "JSON", "yaml": "YAML", "yml": "YAML", "toml": "TOML",
    "ini": "INI", "xml": "XML", "html": "HTML", "css": "CSS", "sql": "SQL", "c": "C",
    "cpp": "C++", "c++": "C++", "cs": "C#", "csharp": "C#", "go": "Go", "golang": "Go",
    "rs": "Rust", "rust": "Rust", "rb": "Ruby", "ruby": "Ruby", "java": "Java",
    "kt": "Kotlin", "kotlin": "Kotlin", "swift": "Swift", "php": "PHP", "r": "R",
    "md": "Markdown", "markdown": "Markdown", "dockerfile": "Dockerfile", "make": "Makefile",
    "makefile": "Makefile", "diff": "diff", "lua": "Lua", "hs": "Haskell",
    "haskell": "Haskell",
}  # fmt: skip
_PLAIN: Final = frozenset({"", "text", "txt", "plain", "plaintext", "output"})


def speakable(text: str) -> str:
    """Return the words a TTS engine should say for ``text``; "" if nothing is speakable."""
    text = _FENCE.sub(_describe_code_block, text)
    codes: list[str] = []
    text = _protect_code_spans(text, codes)
    text = _ESCAPE.sub(lambda m: f"\ue000{_keep(codes, m.group(1))}\ue001", text)
    text = _IMAGE.sub(lambda m: m.group("alt"), text)
    text = _LINK.sub(lambda m: m.group("text"), text)
    text = _AUTOLINK.sub(lambda m: m.group("url"), text)
    text = _URL.sub(_describe_url, text)
    text = _TAG.sub(lambda m: " " if m.group(0).lower().startswith("<br") else "", text)
    text = "\n".join(_strip_line(line) for line in text.split("\n"))
    for pattern in _EMPHASIS:
        text = pattern.sub(lambda m: m.group("inner"), text)
    text = _STRAY_MARKERS.sub("", text)
    text = _EMOJI.sub("", text)
    text = html.unescape(text)
    text = _CODE_PLACEHOLDER.sub(lambda m: codes[int(m.group(1))], text)
    text = _SPACE_BEFORE_PUNCT.sub("", " ".join(text.split()))
    return text if any(ch.isalnum() for ch in text) else ""


def _keep(codes: list[str], code: str) -> int:
    codes.append(code)
    return len(codes) - 1


def _protect_code_spans(text: str, codes: list[str]) -> str:
    """Swap inline code for placeholders so no later rule touches its content."""

    def swap(match: re.Match[str]) -> str:
        return f"\ue000{_keep(codes, match.group('code').strip())}\ue001"

    return _CODE_SPAN.sub(swap, text)


def _describe_code_block(match: re.Match[str]) -> str:
    words = match.group("info").split()
    info = words[0].strip("{}.").lower() if words else ""
    if info in _PLAIN:
        return "\nHere is a code block; see the screen.\n"
    language = _LANGUAGES.get(info)
    if language is None:
        # An unknown tag is said as written, when it looks like a language name at all.
        language = info.capitalize() if re.fullmatch(r"[a-z][a-z0-9+#-]{0,19}", info) else ""
    if not language:
        return "\nHere is a code block; see the screen.\n"
    return f"\nHere is a code block in {language}; see the screen.\n"


def _describe_url(match: re.Match[str]) -> str:
    url = match.group(0)
    trailer = ""
    while url and url[-1] in _URL_TRAILER:
        trailer = url[-1] + trailer
        url = url[:-1]
    host = re.sub(r"^(?:[a-z]+://)?(?:[^@/]*@)?", "", url, flags=re.IGNORECASE)
    host = re.split(r"[/?#:]", host, maxsplit=1)[0].lower()
    host = host.removeprefix("www.")
    return f"a link to {host}{trailer}" if host else trailer


def _strip_line(line: str) -> str:
    if _RULE.fullmatch(line) or _TABLE_SEPARATOR.fullmatch(line):
        return ""
    stripped = line.strip()
    if stripped.startswith("|"):
        cells = [cell.strip() for cell in stripped.strip("|").split("|")]
        return ", ".join(cell for cell in cells if cell)
    line = _LINE_MARKERS.sub("", line, count=1)
    return _HEADING_TAIL.sub("", line)
