"""Files gwalert writes never follow links: a symlink farm (a link at every component of every
path a verb writes, to a directory or file outside the target, or dangling) and a check that
nothing outside the target directory changed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwalert import samples
from gwalert.actions import ActionContext, ActionError, get_action_type
from gwalert.actions.save import notice_parts
from gwalert.alerts import decode
from gwalert.cli import main
from gwalert.safefiles import UnsafePathError, check_name, write_file
from gwalert.summary import summarize


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (not following links) with its content hash or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p.is_symlink():
                out[str(p)] = "->" + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = "dir"
    return out


@pytest.fixture
def outside(tmp_path):
    """Where a planted link points: a directory with a file in it."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "precious").write_text("keep me")
    return d


def plant(link: Path, outside: Path, kind: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    target = {
        "dir": outside,
        "file": outside / "precious",
        "dangling": outside / "created-through-link",
    }[kind]
    link.symlink_to(target)


KINDS = ["dir", "file", "dangling"]


# ------------------------------------------------------------------------ the helper itself
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("at", [0, 1, 2])
def test_write_file_never_follows_a_link(tmp_path, outside, kind, at):
    root = tmp_path / "target"
    root.mkdir()
    parts = ("S1", "leaf")
    path = [root / "S1", root / "S1" / "leaf", root / "S1" / "leaf" / "f.bin"][at]
    if at:
        path.parent.mkdir(parents=True, exist_ok=True)
    plant(path, outside, kind)
    before = snapshot(outside)
    try:
        written = write_file(root, parts, "f.bin", b"new")
    except UnsafePathError:
        assert at < 2  # only a directory link is an error; a file link is replaced
    else:
        assert at == 2
        assert not written.is_symlink() and written.read_bytes() == b"new"
    assert snapshot(outside) == before


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_names_from_notice_content(sid):
    """Any superevent id makes two safe directory names, or is refused."""
    summary = {"superevent_id": sid, "time_created": "2026-01-01T00:00:00Z", "alert_type": sid}
    try:
        parts = notice_parts(summary, "abcdef0123456789")
    except UnsafePathError:
        return
    for part in parts:
        assert check_name(part) == part
        assert "/" not in part and part not in (".", "..") and not part.startswith(".")


# ----------------------------------------------------------------------- the save action
@pytest.fixture(scope="module")
def notice():
    rec = samples.make_record("S260101x", "PRELIMINARY", skymap=samples.gaussian_skymap(4))
    return decode(samples.encode(rec, "avro"))[0]


def _ctx(notice) -> ActionContext:
    return ActionContext.for_notice(
        notice,
        summarize(notice),
        action_id="1/r/save",
        attempt=1,
        rule="r",
        action="save",
        timeout=60,
    )


SAVE_FILES = ["notice.avro", "skymap.multiorder.fits", "skymap.png", "summary.json"]


@pytest.mark.slow
def test_save_action_symlink_farm(tmp_path, outside, notice):
    kind = get_action_type("save")
    root = tmp_path / "saved"
    opts = kind.validate({"dir": str(root)}, base=tmp_path, resolve=True)
    sid, leaf = notice_parts(summarize(notice), notice.content_hash)
    components = [Path(sid), Path(sid, leaf)] + [Path(sid, leaf, f) for f in SAVE_FILES]
    for i, component in enumerate(components):
        for link_kind in KINDS:
            if root.exists():
                for p in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
                    p.unlink() if p.is_symlink() or p.is_file() else p.rmdir()
            plant(root / component, outside, link_kind)
            before = snapshot(outside)
            try:
                kind.run(_ctx(notice), opts)
            except ActionError as exc:
                assert i < 2, exc  # a linked directory: refused, nothing written
                assert "link" in str(exc)
            else:
                assert i >= 2
                files = [root / sid / leaf / f for f in SAVE_FILES]
                assert all(f.is_file() and not f.is_symlink() for f in files)
            assert snapshot(outside) == before, (component, link_kind)


# ------------------------------------------------------- show --save and the exports, CLI
@pytest.fixture
def filled_store(tmp_path, capsys) -> str:
    d = tmp_path / "samples"
    d.mkdir()
    for name, data in samples.sample_set().items():
        (d / name).write_bytes(data)
    store = str(tmp_path / "s.sqlite")
    assert main(["listen", str(d), "--store", store, "-q"]) == 0
    capsys.readouterr()
    return store


@pytest.mark.slow
def test_show_save_and_exports_symlink_farm(tmp_path, outside, filled_store, capsys):
    save = tmp_path / "out"
    rc = main(["show", "MS260101a", "--store", filled_store, "--save", str(save), "--json"])
    assert rc == 0
    files = [
        Path(p) for n in json.loads(capsys.readouterr().out)["notices"] for p in n["files"].values()
    ]
    dirs = sorted({f.parent for f in files} | {f.parent.parent for f in files})
    # every file: a link there is replaced, nothing written outside
    for f in files:
        f.unlink()
        plant(f, outside, "file")
    before = snapshot(outside)
    assert main(["show", "MS260101a", "--store", filled_store, "--save", str(save)]) == 0
    assert snapshot(outside) == before
    assert all(f.is_file() and not f.is_symlink() for f in files)
    # every directory: refused with one line, nothing written outside
    for d in dirs:
        for link_kind in ("dir", "dangling"):
            moved = d.with_name(d.name + ".real")
            d.rename(moved)
            plant(d, outside, link_kind)
            capsys.readouterr()
            rc = main(["show", "MS260101a", "--store", filled_store, "--save", str(save)])
            err = capsys.readouterr().err
            assert rc == 1 and "link" in err and err.count("\n") == 1, err
            assert snapshot(outside) == before
            d.unlink()
            moved.rename(d)
    # the sky-map exports: a link at each output name is replaced
    outs = {"--plot": "m.png", "--moc": "m.moc.fits", "--contours-out": "m.geojson"}
    for name in outs.values():
        plant(tmp_path / name, outside, "file")
    argv = ["skymap", "MS260101a", "--store", filled_store]
    for opt, name in outs.items():
        argv += [opt, str(tmp_path / name)]
    assert main(argv) == 0, capsys.readouterr().err
    assert snapshot(outside) == before
    for name in outs.values():
        assert (tmp_path / name).is_file() and not (tmp_path / name).is_symlink()
