"""speakable(): Markdown segment text to the words a speech engine should say."""

from __future__ import annotations

import pytest

from server.speech.sentences import SentenceSplitter
from server.speech.speakable import speakable

CASES: list[tuple[str, str]] = [
    ("Plain text stays.", "Plain text stays."),
    ("**Bold** and __strong__ text.", "Bold and strong text."),
    ("_em_ and *it* and ~~gone~~.", "em and it and gone."),
    ("# Heading", "Heading"),
    ("\n## Closed heading ##", "Closed heading"),
    ("> quoted **text**", "quoted text"),
    ("> > nested quote", "nested quote"),
    ("\n- item one", "item one"),
    ("  * item two", "item two"),
    ("+ item three", "item three"),
    ("\n12. Twelfth step.", "Twelfth step."),
    ("- [x] done task", "done task"),
    ("- **Bold**: explained", "Bold: explained"),
    ("See [the docs](https://docs.example.com/a?b=c) now.", "See the docs now."),
    ("See [the docs][1] now.", "See the docs now."),
    ("Visit https://www.example.com/a.b?c=d. Then", "Visit a link to example.com. Then"),
    ("Go to http://user:pw@Example.org:8080/x!", "Go to a link to example.org!"),
    ("Or www.python.org, today.", "Or a link to python.org, today."),
    ("<https://example.com/x>", "a link to example.com"),
    ("[https://a.example.net/p](https://a.example.net/p)", "a link to a.example.net"),
    ("Use `config.toml` here.", "Use config.toml here."),
    ("Use `<div>` and `**kwargs` here.", "Use <div> and **kwargs here."),
    ("Run ``a ` b`` now.", "Run a ` b now."),
    ("![a cat on a mat](cat.png)", "a cat on a mat"),
    ("Look ![](x.png) here.", "Look here."),
    ("| Name | Age |", "Name, Age"),
    ("\n|---|:---:|", ""),
    ("<b>bold</b> and<br>line <span class='x'>here</span>", "bold and line here"),
    ("Keep a < b and c > d.", "Keep a < b and c > d."),
    ("AT&amp;T &lt;3", "AT&T <3"),
    ("Party 🎉🎉 time 👍🏽!", "Party time!"),
    ("Flags 🇫🇷 and families 👨‍👩‍👧 go.", "Flags and families go."),
    ("🎉", ""),
    ("---", ""),
    ("***", ""),
    ("**", ""),
    ("1. ", ""),
    ("", ""),
    ("  \n ", ""),
    ("```python\nprint('hi')\n```", "Here is a code block in Python; see the screen."),
    ("\n```js\nlet a = 1;\n```", "Here is a code block in JavaScript; see the screen."),
    ("~~~\nplain\n~~~", "Here is a code block; see the screen."),
    ("```text\nsome output\n```", "Here is a code block; see the screen."),
    ("```elixir\nIO.puts 1\n```", "Here is a code block in Elixir; see the screen."),
    ("```rust\nfn main() {}", "Here is a code block in Rust; see the screen."),
    (
        "Before:\n```sh\nls -la\n```\nAfter.",
        "Before: Here is a code block in shell; see the screen. After.",
    ),
    ("snake_case_name and 2 * 3 = 6", "snake_case_name and 2 * 3 = 6"),
    ("**Note: the first half", "Note: the first half"),
    ("the second half.**", "the second half."),
    (r"\*not emphasis\* \_nor this\_", "*not emphasis* _nor this_"),
    ("Email me@example.com.", "Email me@example.com."),
    ("It costs $29.99, e.g. today.", "It costs $29.99, e.g. today."),
    ("Text with\nsoft wrap", "Text with soft wrap"),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_speakable(text: str, expected: str) -> None:
    assert speakable(text) == expected


def test_code_is_never_read_out() -> None:
    code = "def f(x):\n    return {'secret_token': x ** 2}\n"
    said = speakable(f"```python\n{code}```")
    assert "secret_token" not in said
    assert "return" not in said


def test_every_segment_of_a_markdown_answer_is_clean_speech() -> None:
    answer = (
        "## Setup\n\nSure, here is how:\n\n1. Install **talkterm** with `pipx`.\n"
        "2. Read [the guide](https://example.com/guide).\n\n"
        "```bash\npipx install talkterm\n```\n\n> Tip: it works offline! 🎉\n"
    )
    splitter = SentenceSplitter()
    segments = splitter.feed(answer) + splitter.flush()
    said = [speakable(segment.text) for segment in segments]
    assert said == [
        "Setup",
        "Sure, here is how:",
        "Install talkterm with pipx.",
        "Read the guide.",
        "Here is a code block in shell; see the screen.",
        "Tip: it works offline!",
        "",  # the trailing emoji: nothing to say, so the server skips synthesis
    ]
    markup = set("*_`#>[]()|🎉")
    assert not any(markup & set(text) for text in said)
