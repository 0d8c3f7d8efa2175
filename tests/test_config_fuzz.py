"""Config fuzzing: every key of the config and rules file given a value of each wrong TOML type
gives one line naming the key (and what it must be), exit status 2, never "unexpected error"."""

from __future__ import annotations

import copy
import datetime
import json
import sys

import pytest

from gwalert.cli import main

# A valid config holding every key (each action type once, each filter once).
VALID = {
    "store": {"url": "STORE"},
    "gcn": {"client_id": "id", "client_secret": "secret"},
    "kafka": {"auth": "auth.toml"},
    "serve": {"host": "127.0.0.1", "port": 8080, "token": "tok", "silence_warning": 600},
    "responder": {"workers": 2, "attempts": 3, "backoff": 1, "backoff_max": 60, "max_age": "1d"},
    "rule": [
        {
            "name": "r",
            "real": True,
            "alert_type": ["PRELIMINARY", "INITIAL"],
            "group": "CBC",
            "pipeline": "gstlal",
            "search": "AllSky",
            "significant": True,
            "far_max": 1e-6,
            "classification_min": {"BNS": 0.5},
            "properties_min": {"HasNS": 0.5},
            "area_90_max": 1000,
            "distance_max": 500,
            "field": {"ra": 10.0, "dec": 20.0, "radius": 5.0, "prob_min": 0.1},
            "targets": {"file": "targets.csv", "credible_level": 0.9},
            "max_age": 3600,
            "action": [
                {
                    "type": "command",
                    "name": "cmd",
                    "argv": [sys.executable, "-c", "pass"],
                    "env": {"A": "1"},
                    "pass_env": ["HOME"],
                    "cwd": ".",
                    "output": "out.log",
                    "attempts": 2,
                    "timeout": 30,
                },
                {
                    "type": "webhook",
                    "url": "https://hooks.example.org/x",
                    "mode": "slack",
                    "text": "{superevent_id}",
                    "headers": {"Authorization": "Bearer x"},
                    "follow_redirects": False,
                },
                {
                    "type": "email",
                    "host": "mail.example.org",
                    "port": 587,
                    "tls": "starttls",
                    "username": "u",
                    "password": "p",
                    "from": "a@example.org",
                    "to": ["b@example.org"],
                    "subject": "{superevent_id}",
                    "body": "{superevent_id}",
                },
                {"type": "save", "dir": "saved", "plot": False},
            ],
        }
    ],
}

WRONG = {
    "string": "text",
    "integer": 7,
    "float": 2.5,
    "boolean": True,
    "array": [1, 2],
    "table": {"a": 1},
    "datetime": datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.UTC),
}


def toml(value: object) -> str:
    """``value`` as TOML (a document for a dict at the top, inline values inside)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


def _type(value: object) -> str:
    for name, example in WRONG.items():
        if type(value) is type(example):
            return name
    return "array" if isinstance(value, list) else "table" if isinstance(value, dict) else "?"


#: Keys that take more than one TOML type.
ACCEPTS_SEVERAL = {"alert_type", "group", "pipeline", "search", "max_age", "to", "pass_env"}


def _keys(tree: object, path: tuple = ()) -> list[tuple]:
    """Every key path of the config (into tables and arrays of tables)."""
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.append((*path, k))
            if isinstance(v, dict | list) and k not in ("env", "headers"):
                out += _keys(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            if isinstance(v, dict):
                out += _keys(v, (*path, i))
    return out


def _set(tree: dict, path: tuple, value: object) -> dict:
    tree = copy.deepcopy(tree)
    node = tree
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return tree


def _get(tree: object, path: tuple) -> object:
    for p in path:
        tree = tree[p]  # type: ignore[index]
    return tree


CASES = [
    (path, kind)
    for path in _keys(VALID)
    for kind in WRONG
    if kind != _type(_get(VALID, path))
    and not (kind == "integer" and _type(_get(VALID, path)) == "float")
]


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    (tmp_path / "targets.csv").write_text("name,ra,dec\na,10,20\n")
    (tmp_path / "auth.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(directory, data) -> str:
    data = copy.deepcopy(data)
    if isinstance(data.get("store"), dict) and data["store"].get("url") == "STORE":
        data["store"]["url"] = str(directory / "s.sqlite")
    path = directory / "g.toml"
    path.write_text("".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in data.items()))
    return str(path)


def test_the_valid_config_is_valid(config_dir, capsys):
    assert main(["rules", "check", _write(config_dir, VALID)]) == 0, capsys.readouterr().err


@pytest.mark.slow
def test_every_key_with_every_wrong_type(config_dir, capsys):
    assert len(CASES) > 300
    failures: list = []
    accepted: list = []
    for path, kind in CASES:
        conf = _write(config_dir, _set(VALID, path, WRONG[kind]))
        capsys.readouterr()
        try:
            rc = main(["rules", "check", conf])
        except SystemExit as exc:  # pragma: no cover - argparse
            rc = exc.code
        out, err = capsys.readouterr()
        key = str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
        if rc == 0:
            accepted.append((path, kind))
            continue  # this type is also valid for this key (e.g. max_age = false)
        line_ok = (
            rc == 2
            and err.count("\n") == 1
            and key in err
            and "unexpected error" not in err
            and any(w in err for w in ("must", "unknown", "missing", "not a", "expected"))
        )
        if not line_ok:
            failures.append((path, kind, rc, err.strip()))
    assert not failures, "\n".join(map(str, failures[:20]))
    # only where the key takes several types (a string or an array, seconds or a duration)
    numbers = {"integer", "float"}
    odd = [
        (p, k)
        for p, k in accepted
        if p[-1] not in ACCEPTS_SEVERAL and not (k in numbers and _type(_get(VALID, p)) in numbers)
    ]
    assert not odd, odd


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(WRONG))
@pytest.mark.parametrize("key", sorted(VALID["serve"]))
def test_serve_section_types(config_dir, capsys, key, kind):
    if kind == _type(VALID["serve"][key]) or (key == "silence_warning" and kind == "float"):
        return
    conf = _write(config_dir, _set(VALID, ("serve", key), WRONG[kind]))
    doctor = ["doctor", "--config", conf, "--store", str(config_dir / "d.sqlite"), str(config_dir)]
    for argv in (["serve", "--config", conf, "--port", "0"], doctor):
        capsys.readouterr()
        rc = main(argv)
        out, err = capsys.readouterr()
        if argv[0] == "serve":
            assert rc == 2 and err.count("\n") == 1, err
            assert f"[serve] {key} must be" in err and "unexpected" not in err
        else:  # doctor: a PROBLEM line among its checks
            assert rc != 0 and f"[serve] {key} must be" in out and "unexpected" not in out
