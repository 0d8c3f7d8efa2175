"""Notice text never drives the terminal: one escape over every code point, and every verb that
prints notice or store text for a person shows hostile text escaped (``--json`` stays JSON)."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gwalert import samples
from gwalert.cli import main
from gwalert.terminal import escape

ESCAPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def safe_for_a_terminal(text: str, keep: str = "") -> bool:
    return all(
        unicodedata.category(c) not in ESCAPED or c in keep
        for c in text  # letters, marks, symbols, spaces only
    )


def test_every_code_point():
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        out = escape(c)
        if unicodedata.category(c) in ESCAPED:
            assert out != c and out.startswith("\\") and out.isascii() and out.isprintable(), cp
            # shown as its code point: \x1b, \u202e, \U000e0001
            assert int(out[2:], 16) == cp
        else:
            assert out == c, cp


@given(st.text(st.characters(codec=None)), st.sampled_from(["", "\t", "\n", "\t\n"]))
def test_escaped_text_is_safe_and_keeps_the_rest(text, keep):
    out = escape(text, keep=keep)
    assert safe_for_a_terminal(out, keep)
    # every character that was safe is still there, in order
    kept = [c for c in text if unicodedata.category(c) not in ESCAPED or c in keep]
    it = iter(out)
    assert all(any(c == o for o in it) for c in kept)


# Every C0 and C1 control, DEL, the bidi controls, separators; OSC 52 (clipboard), a title
# change and a screen clear as whole sequences.
HOSTILE = (
    "".join(chr(c) for c in range(1, 0x20) if chr(c) not in "/")
    + "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0))
    + "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
    + "\x1b]52;c;aGVsbG8=\x07\x1b]0;owned\x07\x1b[2J"
)


@pytest.mark.slow
def test_every_verb_escapes_notice_text(tmp_path, capsys):
    notices = tmp_path / "in"
    notices.mkdir()
    rec = samples.make_record(
        "MS260101z",
        "PRELIMINARY",
        pipeline="gst" + HOSTILE,
        classification={"BNS" + HOSTILE: 0.9, "BBH": 0.1},
        skymap=samples.gaussian_skymap(3),
    )
    # the file name is notice-controlled too (it is printed as the source)
    name = "n" + HOSTILE.replace("\n", "").replace("\x00", "") + ".json"
    (notices / name).write_bytes(samples.encode(rec, "json"))
    (notices / "bad.json").write_bytes(b'{"superevent_id": "S1\x1b[2J"}')
    store = str(tmp_path / "s.sqlite")

    def verb(*argv: str) -> str:
        capsys.readouterr()
        rc = main(list(argv))
        out, err = capsys.readouterr()
        assert rc in (0, 1), (argv, err)
        return out + err

    outputs = {
        "listen": verb("listen", str(notices), "--store", store),
        "events": verb("events", "--store", store),
        "show": verb("show", "MS260101z", "--store", store),
        "notices": verb("notices", "--store", store),
        "dead letters": verb("notices", "--dead-letters", "--store", store),
        "rules status": verb("rules", "status", "--store", store),
    }
    assert "BNS" in outputs["events"] and "\\x1b]52" in outputs["events"]
    assert "\\x1b" in outputs["listen"]
    for what, text in outputs.items():
        assert safe_for_a_terminal(text, "\t\n"), what
    # --json is JSON, holding the very text
    capsys.readouterr()
    assert main(["events", "--store", store, "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert safe_for_a_terminal(line)
    assert "BNS" + HOSTILE in json.loads(line)["classification"]
