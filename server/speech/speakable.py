"""What a speech engine should say for a segment of Markdown transcript.

The transcript keeps its Markdown for the screen; speech gets the words only:
markup removed, links read as their text, bare URLs as their host, a code block
as a short phrase pointing at the screen, emoji dropped.

Every pattern runs in time linear in its input: a span's inner part stops at the
next marker of its kind and marker runs are bounded, so no opener rescans the
rest of a line (64 KB of ``**x `` once took 5.9 s).
"""

from __future__ import annotations

import html
import re
from typing import Final

# The same rules as the sentence splitter's: a backtick fence's info string holds no
# backtick (CommonMark), a tilde fence's may; it closes with a run of its own character.
_FENCE: Final = re.compile(
    r"^[ \t]*+(?P<fence>`{3,}+(?![^\n]*`)|~{3,}+)[ \t]*(?P<info>[^\n]*)(?:\n|\Z)(?P<body>.*?)"
    r"(?:^[^\S\n]*(?P=fence)(?:(?<=`)`*|(?<=~)~*)[^\S\n]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
_BACKTICKS: Final = re.compile(r"`+")
_ESCAPE: Final = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_IMAGE: Final = re.compile(r"!\[(?P<alt>[^\[\]]*)\]\([^()]*\)")
_LINK: Final = re.compile(r"\[(?P<text>[^\[\]]+)\](?:\([^()]*\)|\[[^\[\]]*\])")
_AUTOLINK: Final = re.compile(r"<(?P<url>(?:https?|ftp)://[^<>\s]+)>")
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
_HEADING_TAIL: Final = re.compile(r"(?<![ \t])[ \t]+#+[ \t]*$")
# The inner part of a span never holds its own marker, so each opener scans only
# as far as the next marker and the whole pass stays linear.
_EMPHASIS: Final = (
    re.compile(r"\*\*(?=\S)(?P<inner>(?:[^*\n]|\*(?!\*))+?)(?<=\S)\*\*"),
    re.compile(r"__(?=\S)(?P<inner>(?:[^_\n]|_(?!_))+?)(?<=\S)__"),
    re.compile(r"~~(?=\S)(?P<inner>(?:[^~\n]|~(?!~))+?)(?<=\S)~~"),
    re.compile(r"(?<![\w*])\*(?=[^\s*])(?P<inner>[^*\n]+?)(?<=[^\s*])\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?=[^\s_])(?P<inner>[^_\n]+?)(?<=[^\s_])_(?![\w_])"),
)
# Unpaired emphasis left by a segment boundary: markers at the edge of a word only,
# so 2*3 and snake_case survive. Runs are bounded so a long one is not retried per star.
_STRAY_MARKERS: Final = re.compile(
    r"(?<!\S)(?:\*{1,16}|_{1,16}|~~)(?=\S)|(?<=\S)(?:\*{1,16}|_{2,16}|~~)(?!\S)"
)
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
    """Swap inline code for placeholders so no later rule touches its content.

    A span opens with a run of backticks and closes at the next run of the same
    length (CommonMark); runs are paired in one pass, so unmatched openers cost nothing.
    """
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    later: dict[int, list[int]] = {}  # run length -> indexes of runs of that length, reversed
    for index in range(len(runs) - 1, -1, -1):
        later.setdefault(runs[index][1] - runs[index][0], []).append(index)
    out: list[str] = []
    done = 0  # text[:done] is in out
    index = 0
    while index < len(runs):
        start, end = runs[index]
        same = later[end - start]
        same.pop()  # this run itself
        close = same[-1] if same else None
        if close is None:
            index += 1
            continue
        out += [text[done:start], f"\ue000{_keep(codes, text[end : runs[close][0]].strip())}\ue001"]
        done = runs[close][1]
        for skipped in range(index + 1, close + 1):
            later[runs[skipped][1] - runs[skipped][0]].pop()
        index = close + 1
    return "".join([*out, text[done:]])


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
