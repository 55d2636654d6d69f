"""Published md5 checksums as data, and the check of a data root against them."""

from __future__ import annotations

import hashlib
import textwrap

import pytest

from vcmctc.ctc.checksums import (
    check_checksum_files, check_data_root, checksums, md5_of,
)
from vcmctc.ctc.editions import load_edition
from vcmctc.errors import UserError

# As published in InterDigitalInc/CompressAI-Vision@31165da scripts/datasets/README.md,
# data/mpeg-fcm/fcm_testdata/tvd_tracking/MD5.txt and VCM-RS v0.12 Scripts/tvd_tracking_config.py.
TRAFFIC_GT = "f69723137837813480154ef80d5a5e08"
TRAFFIC_CLIP = "37cb3baf5b801edea148721903d5fb09"
TVD01 = "1dddac6c82e5c8e59f06d283458e2db7"
TVD0301 = "221fc39367b041f983cee58623c3831f"


def test_bundled_checksums_per_edition_and_layout():
    vcm = checksums(load_edition("vcm-n0638"))
    traffic = {f.role: f for f in vcm["Traffic"]}
    assert traffic["gt"].md5 == TRAFFIC_GT and traffic["clip"].md5 == TRAFFIC_CLIP
    assert traffic["gt"].paths == {
        "vcmctc": "SFU_HW_Obj/Traffic/Traffic_2560x1600_30_val.json",
        "compressai-vision": "SFU_HW_Obj/Traffic_2560x1600_30_val/annotations/Traffic_2560x1600_30_val.json"}
    assert "CompressAI-Vision@31165da scripts/datasets/README.md" in traffic["gt"].source
    # every SFU clip of the edition has a clip and a ground-truth md5
    sfu = [s.id for s in load_edition("vcm-n0638").sequences.values() if s.dataset == "SFU"]
    assert all({f.role for f in vcm[s]} == {"clip", "gt"} for s in sfu) and len(sfu) == 14
    # VCM's TVD clip: the clip itself and the whole source it is cut from
    clip = {f.role: f for f in vcm["TVD-03_1"]}
    assert clip["clip"].md5 == TVD0301 and clip["clip"].paths["compressai-vision"] == \
        "tvd_tracking_vcm/TVD-03-1.yuv"
    assert clip["source"].md5 == "9aa26e98ac34e7da9712c3ed4677da4b"
    assert clip["source"].also and "tvd_tracking_config.py" in clip["source"].also[0]
    # FCM: the whole TVD sequences; no TVD ground truth md5 is public
    fcm = checksums(load_edition("fcm-fctm-v1"), roles=["gt"])
    assert "TVD-01" not in fcm and "HiEve-13" not in fcm and len(fcm) == 14
    src = checksums(load_edition("fcm-fctm-v1"), roles=["source"])
    assert src["TVD-01"][0].paths["compressai-vision"] == \
        "tvd_tracking/TVD-01_1920x1080_50_8bit_yuv420.yuv" and src["TVD-01"][0].md5 == TVD01
    # the non-scale sequences are scored against the original ground truth: same md5
    ns = checksums(load_edition("fcm-ctc-2025"), roles=["gt"])["ns_Traffic"]
    assert [f.md5 for f in ns] == [TRAFFIC_GT] and ns[0].paths["vcmctc"].startswith("SFU_HW_Obj/Traffic/")
    with pytest.raises(ValueError, match="unknown role"):
        checksums(load_edition("vcm-n0638"), roles=["yuv"])


def test_bundled_checksum_files_are_clean():
    assert [p for p in check_checksum_files() if p.startswith("error")] == []
    assert check_checksum_files() == []


def _checksum_dir(tmp_path, content: bytes, md5: str | None = None):
    d = tmp_path / "sums"
    d.mkdir()
    (d / "t.yaml").write_text(textwrap.dedent(f"""\
        sources: {{pub: "a publication"}}
        files:
          - {{sequence: Traffic, dataset: SFU, role: gt, md5: "{md5 or hashlib.md5(content).hexdigest()}",
             source: pub, at: {{vcmctc: "{{gt}}/Traffic_val.json",
                               compressai-vision: SFU_HW_Obj/Traffic_val/annotations/Traffic_val.json}}}}
    """))
    return d


@pytest.mark.parametrize("layout", ["vcmctc", "vcmctc-single-json", "compressai-vision"])
def test_check_data_root_finds_either_layout(tmp_path, layout):
    content = b'{"images": [], "annotations": []}\n'
    sums = _checksum_dir(tmp_path, content)
    root = tmp_path / "data"
    rel = {"vcmctc": "SFU_HW_Obj/Traffic/Traffic_val.json",
           "vcmctc-single-json": "SFU_HW_Obj/Traffic/other_name.json",
           "compressai-vision": "SFU_HW_Obj/Traffic_val/annotations/Traffic_val.json"}[layout]
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_bytes(content)
    ed = load_edition("vcm-n0638")
    [res] = check_data_root(ed, root, directory=sums)
    assert (res.status, res.path, res.layout) == ("ok", root / rel, layout.split("-single")[0])
    assert res.actual == hashlib.md5(content).hexdigest() and res.ok
    # the byte that differs is found
    (root / rel).write_bytes(content.replace(b"[]", b"[ ]", 1))
    [res] = check_data_root(ed, root, directory=sums)
    assert res.status == "mismatch" and not res.ok
    assert "the published md5 is" in res.message() and "a publication" in res.message()
    # --no-md5: found, not hashed
    [res] = check_data_root(ed, root, directory=sums, hash_files=False)
    assert res.status == "present" and res.actual is None


def test_check_data_root_missing_and_selection(tmp_path):
    sums = _checksum_dir(tmp_path, b"x")
    root = tmp_path / "data"
    root.mkdir()
    ed = load_edition("vcm-n0638")
    [res] = check_data_root(ed, root, directory=sums)
    assert res.status == "missing" and res.path is None
    assert "not found under the data root" in res.message() and "compressai-vision: SFU" in res.message()
    # two JSON files in the ground-truth folder: ambiguous, so not taken
    (root / "SFU_HW_Obj/Traffic").mkdir(parents=True)
    (root / "SFU_HW_Obj/Traffic/a.json").write_text("x")
    (root / "SFU_HW_Obj/Traffic/b.json").write_text("x")
    assert check_data_root(ed, root, directory=sums)[0].status == "missing"
    assert check_data_root(ed, root, directory=sums, sequences=["BQMall"]) == []
    assert len(check_data_root(ed, root, directory=sums, sequences=["Traffic"])) == 1
    assert check_data_root(ed, root, directory=sums, roles=["clip"]) == []
    with pytest.raises(UserError, match="not a folder"):
        check_data_root(ed, tmp_path / "nope", directory=sums)


def test_md5_of_is_the_md5(tmp_path):
    p = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000
    p.write_bytes(data)
    assert md5_of(p, chunk=4096) == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize("entry, message", [
    ("{sequence: T, dataset: SFU, role: gt, md5: XYZ, source: pub, at: {vcmctc: a}}", "field 'md5'"),
    ("{sequence: T, dataset: SFU, role: yuv, md5: '%s', source: pub, at: {vcmctc: a}}" % ("0" * 32), "field 'role'"),
    ("{sequence: T, dataset: SFU, role: gt, md5: '%s', source: nope, at: {vcmctc: a}}" % ("0" * 32), "source 'nope'"),
    ("{sequence: T, dataset: SFU, role: gt, md5: '%s', source: pub, at: {elsewhere: a}}" % ("0" * 32), "field 'at'"),
    ("{sequence: T, dataset: SFU, role: gt, md5: '%s', source: pub, at: {vcmctc: ../a}}" % ("0" * 32), "field 'at'"),
    ("{dataset: SFU, role: gt, md5: '%s', source: pub, at: {vcmctc: a}}" % ("0" * 32), "'sequence'"),
    ("{sequence: T, dataset: SFU, role: gt, md5: '%s', source: pub, at: {vcmctc: a}, x: 1}" % ("0" * 32), "unknown field"),
])
def test_bad_checksum_files_name_file_and_entry(tmp_path, entry, message):
    d = tmp_path / "sums"
    d.mkdir()
    (d / "bad.yaml").write_text(f"sources: {{pub: p}}\nfiles:\n  - {entry}\n")
    problems = check_checksum_files(d)
    assert len(problems) == 1 and problems[0].startswith("error: ") and message in problems[0]
    assert "bad.yaml" in problems[0] and "files[0]" in problems[0]
    with pytest.raises(UserError, match="files\\[0\\]"):
        checksums(load_edition("vcm-n0638"), directory=d)


def test_checksum_file_warnings(tmp_path):
    d = tmp_path / "sums"
    d.mkdir()
    z, o = "0" * 32, "1" * 32
    (d / "w.yaml").write_text(f"""sources: {{pub: p}}
files:
  - {{sequence: Nowhere, dataset: SFU, role: clip, md5: "{z}", source: pub, at: {{vcmctc: a.yuv}}}}
  - {{sequence: Traffic, dataset: SFU, role: clip, md5: "{z}", source: pub, at: {{vcmctc: b.yuv}}}}
  - {{sequence: ParkScene, dataset: SFU, role: clip, md5: "{o}", source: pub, at: {{vcmctc: b.yuv}}}}
""")
    problems = check_checksum_files(d)
    assert any("sequence Nowhere of data set SFU is in no edition" in p for p in problems)
    assert any(p.startswith("error") and "b.yuv has md5 " + o in p for p in problems)
