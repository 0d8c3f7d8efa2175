"""One write path (issue 16, item 1): ``gwalert replay FILES`` stores through the same
pipeline as ``gwalert listen FILES``: the same notices, arrivals (feed, source, first copy) and
dead letters, and the same planned actions."""

from __future__ import annotations

from gwalert import samples
from gwalert.cli import main
from gwalert.store import Store


def _contents(url: str) -> dict[str, list]:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:

            def rows(sql: str) -> list:
                return sorted(tuple(r) for r in conn.exec_driver_sql(sql))

            return {
                "notices": rows(
                    "SELECT superevent_id, alert_type, time_created, content_hash, format, "
                    'source, partition, "offset" FROM gwalert_notices'
                ),
                "arrivals": rows(
                    "SELECT n.superevent_id, n.alert_type, n.content_hash, a.feed, a.source, "
                    'a.partition, a."offset", a.is_first FROM gwalert_arrivals a '
                    "JOIN gwalert_notices n ON n.id = a.notice_id"
                ),
                "dead_letters": rows(
                    'SELECT raw_sha256, error, source, partition, "offset" '
                    "FROM gwalert_dead_letters"
                ),
                "actions": rows(
                    "SELECT n.superevent_id, n.alert_type, n.content_hash, a.rule, a.action "
                    "FROM gwalert_actions a JOIN gwalert_notices n ON n.id = a.notice_id"
                ),
            }
    finally:
        store.close()


def test_replay_files_records_what_listen_files_records(tmp_path, capsys) -> None:
    files = tmp_path / "in"
    files.mkdir()
    for name, data in samples.sample_set().items():  # Avro and JSON copies of each notice
        (files / name).write_bytes(data)
    (files / "junk.avro").write_bytes(b"Obj\x01 not really avro")
    (files / "empty.json").write_bytes(b"")
    config = tmp_path / "gwalert.toml"
    config.write_text(
        '[[rule]]\nname = "all"\nmax_age = false\n\n'
        '[[rule.action]]\ntype = "command"\nargv = ["true"]\n'
    )
    listened, replayed = str(tmp_path / "listen.sqlite"), str(tmp_path / "replay.sqlite")
    assert main(["listen", str(files), "--store", listened, "--config", str(config), "-q"]) == 0
    status = main(
        ["replay", str(files), "--store", replayed, "--config", str(config), "--no-progress"]
    )
    assert status == 1  # the two files that are no notices
    err = capsys.readouterr().err
    assert "junk.avro" in err and "empty.json" in err
    a, b = _contents(listened), _contents(replayed)
    assert len(a["notices"]) == 5 and len(a["dead_letters"]) == 2
    assert len(a["arrivals"]) == 10 and sum(r[-1] for r in a["arrivals"]) == 5
    assert a == b
