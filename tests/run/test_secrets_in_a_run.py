"""A password with a quote, a backslash and a non-ASCII letter, planted where a hostile cloud
and host would put it: in a host's config that preflight reports, in what a scenario prints,
in its failure and in its cleanup's failure. `matrix run`, `matrix ingest` and `matrix publish`
then write and print it in no encoding anywhere."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from harness.run.records import read_header, read_results
from harness.run.secrets import encodings
from tests.conftest import Result

HOSTILE_SECRET = 'Qu"ote\\Back-\u00fc'
KVM = "libvirt-kvm/local-qcow2/ovs"
ECHOING = """
import html, json, pytest
from urllib.parse import quote

SECRET = {secret!r}
FORMS = " ".join([SECRET, json.dumps(SECRET), html.escape(SECRET), quote(SECRET, safe=""), repr(SECRET)])

@pytest.mark.feature("live-snapshot")
def test_echoes(cleanup):
    print("the cloud said:", FORMS)
    cleanup.add("server s1", lambda: (_ for _ in ()).throw(RuntimeError("cleanup: " + FORMS)))
    raise AssertionError("auth failed: " + FORMS)
"""


def test_a_planted_secret_reaches_no_file_and_no_output_of_run_ingest_and_publish(
    run: Callable[..., Result], small: Path, tmp_path: Path
) -> None:
    shutil.copy(Path(__file__).parents[2] / "matrix" / "levels.yaml", small / "levels.yaml")
    (tmp_path / "clouds.yaml").write_text(
        "clouds:\n  lab-cloud:\n    auth_type: password\n    auth:\n"
        "      auth_url: http://127.0.0.1:9/v3\n      username: demo\n"
        f"      password: '{HOSTILE_SECRET}'\n"
    )
    host = tmp_path / "host"
    (host / "etc" / "nova").mkdir(parents=True)  # preflight reports what it found: the secret
    (host / "etc" / "nova" / "nova-cpu.conf").write_text(
        f"[libvirt]\nvirt_type = {HOSTILE_SECRET}\n"
    )
    lab = tmp_path / "lab.yaml"
    lab.write_text(
        f"clouds_yaml: {tmp_path / 'clouds.yaml'}\ntargets:\n"
        f"  - name: t\n    combination: {KVM}\n    cloud: lab-cloud\n"
        f"    hosts: [{{spec: 'local://', roles: [compute], root: '{host}'}}]\n"
    )
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "test_it.py").write_text(ECHOING.format(secret=HOSTILE_SECRET))
    out, db, site = tmp_path / "out", tmp_path / "h.sqlite", tmp_path / "site"

    done = run(
        "--matrix", str(small), "run", "--lab", str(lab), "--out", str(out), "--force",
        "--scenarios", str(tmp_path / "scenarios"),
    )  # fmt: skip
    assert done.code == 1, done.err
    [run_dir] = (out / "runs").iterdir()
    header = read_header(run_dir)
    found = [o["found"] for o in header.preflight["outcomes"] if o["kind"] == "ini"]
    assert found == ["virt_type = ***"]  # the check read the planted value, and masked it
    [result] = read_results(run_dir)
    assert result.outcome == "failed" and result.cleanup_error
    assert "the cloud said: ***" in (run_dir / "run.log").read_text(encoding="utf-8")

    ingested = run("--matrix", str(small), "ingest", str(out / "runs"), "--db", str(db))
    published = run("--matrix", str(small), "publish", "--out", str(site), "--db", str(db))
    assert (ingested.code, published.code) == (0, 0), ingested.err + published.err
    assert {p.name for p in run_dir.iterdir()} >= {
        "run.json",
        "results.jsonl",
        "junit.xml",
        "run.log",
    }
    texts = {
        str(p): p.read_bytes().decode("utf-8", "replace")
        for p in (*run_dir.iterdir(), *site.rglob("*"), db)
        if p.is_file()
    }
    for name, result in {"run": done, "ingest": ingested, "publish": published}.items():
        texts[f"{name} stdout"], texts[f"{name} stderr"] = result.out, result.err
    for form in encodings(HOSTILE_SECRET):
        leaks = [where for where, text in texts.items() if form in text]
        assert not leaks, f"{form!r} in {leaks}"
    assert not any(
        "Back-" in text for text in texts.values()
    )  # no fragment in any other form either
