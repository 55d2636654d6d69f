"""CTC editions: bundled data equals its sources; loader and checks catch bad data."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest

from vcmctc.ctc.check import check_edition
from vcmctc.ctc.editions import list_editions, load_edition
from vcmctc.errors import UserError

DATA = Path(__file__).parent / "data"


def test_bundled_editions_listed_and_clean():
    assert set(list_editions()) == {"vcm-n0543", "vcm-n0592", "vcm-n0638", "vcm-n0663",
                                    "fcm-fctm-v1", "fcm-fctm-v2", "fcm-ctc-2025",
                                    "fcm-ctc-2025-nocactus", "vcm-jbe2024", "fcm-jbe2024", "ctc-demo",
                                    "ctc-demo-fcm"}
    for ed_id in list_editions():
        errors = [p for p in check_edition(load_edition(ed_id)) if p.level == "error"]
        assert errors == [], errors


@pytest.mark.parametrize("track", ["VCM", "FCM"])
def test_jbe2024_editions_exactly_as_printed(track):
    ed = load_edition(f"{track.lower()}-jbe2024")
    rows = [r for r in csv.DictReader(open(DATA / "ctc_settings_jbe2024.csv")) if r["track"] == track]
    assert [r["sequence"] for r in rows] == sorted(
        [r["sequence"] for r in rows], key=list(ed.sequences).index)
    assert {r["sequence"] for r in rows} == set(ed.sequences)
    for r in rows:
        seq = ed.sequence(r["sequence"])
        assert seq.fps == int(r["fps"]), seq.id
        assert seq.frames == int(r["frames_coded"]), seq.id
        assert list(ed.qps(seq)) == [int(q) for q in r["qps"].split()], seq.id
        assert seq.cls == r["class"], seq.id


def test_jbe2024_disagreements_are_kept_not_fixed():
    ed = load_edition("vcm-jbe2024")
    drill = ed.sequence("BasketballDrill")
    assert drill.fps == 30 and drill.frames == 65                      # as printed
    assert drill.disagreements["fps"] == (50, "sfu-clips")              # clip metadata kept
    assert drill.disagreements["frames"] == (97, "sfu-clips")
    assert drill.field_sources["fps"] == "jbe2024-table1"
    assert drill.field_sources["width"] == "sfu-clips"
    assert "fps" in drill.notes and "frames" in drill.notes
    # Sequences the paper agrees on carry no disagreement.
    assert load_edition("fcm-jbe2024").sequence("BQMall").disagreements == {}


def test_vcm_n0638_facts():
    ed = load_edition("vcm-n0638")
    sfu = [s for s in ed.sequences.values() if s.dataset == "SFU"]
    assert len(sfu) == 14
    traffic = ed.sequence("Traffic")
    assert (traffic.width, traffic.height, traffic.fps) == (2560, 1600, 30)
    assert (traffic.total_frames, traffic.skip, traffic.frames) == (150, 117, 33)
    assert traffic.qps_for("RA") == (32, 36, 40, 44, 48, 52)
    assert traffic.qps_for("AI") == (26, 30, 34, 38, 42, 46)
    assert ed.sequence("RaceHorses_832x480").id == "RaceHorsesC"
    assert ed.sequence("RaceHorses_416x240").qps_for("AI") == (12, 16, 20, 24, 28, 32)
    assert ed.sequence("Kimono").cls == "O" and ed.classes["O"].optional
    tvd = [s for s in ed.sequences.values() if s.dataset == "TVD"]
    assert [s.id for s in tvd] == ["TVD-01_1", "TVD-01_2", "TVD-01_3", "TVD-02_1",
                                   "TVD-03_1", "TVD-03_2", "TVD-03_3"]
    clip = ed.sequence("TVD-03-2")  # alias with a dash
    assert (clip.id, clip.skip, clip.frames, clip.bit_depth, clip.first_frame) == (
        "TVD-03_2", 500, 500, 10, 1)
    assert clip.qps_for("RA") == (26, 30, 34, 38, 42, 46)
    oiv6 = ed.sequence("mpeg-oiv6-detection")
    assert oiv6.kind == "images" and oiv6.rate_unit == "bpp" and oiv6.items == 5000
    assert ed.qps(oiv6) == (22, 27, 32, 37, 42, 47)  # image sets are intra: AI QPs
    # CompressAI-Vision's VCM mode fits every curve, with the scripts' SLSQP call
    assert (ed.bd.policy, ed.bd.fit_solver, ed.bd.method) == ("fit", "slsqp", "pchip")
    assert ed.bd.min_overlap == 0.75
    pandaset = ed.sequence("Pandaset")
    assert (pandaset.items, pandaset.fps, pandaset.frames) == (73, 10, 80)
    assert "76" in pandaset.notes["items"] and "30" in pandaset.notes["fps"]
    assert ed.sequence("FLIR").items is None and "items" in ed.sequence("FLIR").notes


def test_fcm_fctm_v1_facts():
    ed = load_edition("fcm-fctm-v1")
    expected = {"Traffic": [24, 28, 29, 34], "Cactus": [41, 47, 49, 51],
                "RaceHorsesD": [22, 27, 37, 41], "TVD-03": [28, 33, 34, 36],
                "OIV6-detection": [29, 31, 32, 39], "OIV6-segmentation": [27, 32, 37, 39]}
    for name, qps in expected.items():
        assert list(ed.qps(ed.sequence(name))) == qps
    # FCM codes video with VTM's low-delay configuration, the OpenImages sets intra
    assert ed.scenarios == ("LD", "AI") and ed.sequence("Traffic").qps == {"LD": (24, 28, 29, 34)}
    assert ed.sequence("Traffic").metric == "coco-bbox-ap50"
    # detection and segmentation are separate classes: a pooled row never mixes two metrics
    assert ed.sequence("mpeg-oiv6-detection").cls == "OIV6-DET"
    assert ed.sequence("mpeg-oiv6-segmentation").cls == "OIV6-SEG"
    for cls in ed.classes:
        assert len({s.metric for s in ed.class_members(cls)}) == 1, cls
    assert {s.cls for s in ed.sequences.values() if s.dataset == "SFU"} == {"AB", "C", "D"}
    assert [s.id for s in ed.class_members("HIEVE-720P")] == ["HiEve-17", "HiEve-18", "HiEve-2"]
    assert ed.sequence("13").frames == 1416 and ed.sequence("13").first_frame == 0
    assert ed.sequence("TVD-01").frames == 3000 and ed.sequence("TVD-01").first_frame == 1
    assert ed.aggregation.class_rows == "pooled"
    warnings = [p for p in check_edition(ed) if p.level == "warning"]
    assert {p.where for p in warnings} == {f"sequence HiEve-{n}" for n in (13, 16, 17, 18, 2)}


def test_vcm_n0543_and_n0592_six_scenarios_of_m69288():
    for ed_id in ("vcm-n0543", "vcm-n0592"):
        ed = load_edition(ed_id)
        assert ed.scenarios == ("RA_inner", "RA_e2e", "LD_inner", "LD_e2e", "AI_inner", "AI_e2e")
        traffic, clip = ed.sequence("Traffic"), ed.sequence("TVD-01_1")
        assert traffic.qps_for("RA_inner") == traffic.qps_for("LD_e2e") == (32, 36, 40, 44, 48, 52)
        assert traffic.qps_for("AI_e2e") == (28, 32, 36, 40, 44, 48)
        # the TVD clips are where inner and e2e differ
        assert clip.qps_for("RA_inner") == clip.qps_for("AI_inner") == (18, 22, 26, 30, 34, 38)
        assert clip.qps_for("RA_e2e") == (14, 18, 22, 26, 30, 34)
        assert clip.qps_for("AI_e2e") == (16, 20, 24, 28, 32, 36)
        assert ed.sequence("Pandaset").qps_for("AI_e2e") == (22, 27, 32, 37, 42, 47)
        assert ed.sequence("OIV6-detection").qps is None            # not public: a note says so
        assert "qps" in ed.sequence("OIV6-detection").notes
        assert ed.bd.policy == "fit" and ed.bd.fit_solver == "slsqp"
        assert "m69288" in ed.notes["qps-era"] and ed.document.startswith(ed_id.replace("vcm-n", "WG4 N"))
    v011 = load_edition("vcm-n0592")
    assert v011.scenario_settings["AI_e2e"] == {"descriptors": "TemporalResampleOFF"}
    assert v011.sequence("Traffic").field_sources["qps"] == "m69288-qps"


def test_vcm_n0663_structure_without_qps():
    ed, v012 = load_edition("vcm-n0663"), load_edition("vcm-n0638")
    assert list(ed.sequences) == list(v012.sequences) and ed.classes == v012.classes
    assert all(s.qps is None for s in ed.sequences.values())
    problems = check_edition(ed)
    assert {p.level for p in problems} == {"warning"}
    assert sum("no QPs: the VCM-RS v1.0 QPs" in p.message for p in problems) == len(ed.sequences)


def test_fcm_fctm_v2_scores_sfu_with_ap():
    v1, v2 = load_edition("fcm-fctm-v1"), load_edition("fcm-fctm-v2")
    assert list(v1.sequences) == list(v2.sequences)
    for seq in v2.sequences.values():
        assert seq.qps is None
        if seq.dataset == "SFU":
            assert seq.metric == "coco-bbox-ap" and v1.sequences[seq.id].metric == "coco-bbox-ap50"
        else:
            assert seq.metric == v1.sequences[seq.id].metric
    assert "edb902f" in v2.sources["fctm-v2-metric"]


def test_fcm_ctc_2025_pandaset_and_options():
    ed = load_edition("fcm-ctc-2025")
    members = {c: [s.id for s in ed.class_members(c)] for c in ("PANDAM1", "PANDAM2", "PANDAM3")}
    assert [len(v) for v in members.values()] == [7, 17, 12]
    assert members["PANDAM1"] == [f"Pandaset-{n}" for n in ("057", "058", "069", "070", "072", "073", "077")]
    p = ed.sequence("pandaset-097")                 # CompressAI-Vision's dataset name as alias
    assert (p.id, p.cls, p.fps, p.frames, p.intra_period, p.metric) == (
        "Pandaset-097", "PANDAM2", 30, 80, 32, "miou")
    assert ed.sequence("057").id == "Pandaset-057"
    # the non-scale class: optional, scored against the original clips' ground truth
    assert ed.classes["AB*"].optional
    ns = ed.sequence("ns_Traffic_2560x1600_30")
    assert (ns.cls, ns.gt, ns.frames) == ("AB*", "SFU_HW_Obj/Traffic", 33)
    assert ed.sequence("Cactus").cls == "AB" and ed.sequence("Traffic").metric == "coco-bbox-ap"
    no_cactus = load_edition("fcm-ctc-2025-nocactus")
    assert "Cactus" not in no_cactus.sequences
    assert [s.id for s in no_cactus.class_members("AB")] == [
        "Traffic", "ParkScene", "BasketballDrive", "BQTerrace", "Kimono"]
    assert set(no_cactus.sequences) == set(ed.sequences) - {"Cactus"}


@pytest.mark.parametrize("ed_id", ["fcm-fctm-v1", "fcm-fctm-v2", "fcm-ctc-2025",
                                   "fcm-ctc-2025-nocactus", "fcm-jbe2024"])
def test_fcm_pooled_classes_never_mix_metrics(ed_id):
    ed = load_edition(ed_id)
    assert ed.aggregation.class_rows == "pooled"
    for cls in ed.classes:
        assert len({s.metric for s in ed.class_members(cls)}) == 1, (ed_id, cls)


def test_no_private_sources_and_every_source_names_a_public_one():
    import re

    from conftest import REPO

    for ed_id in list_editions():
        ed = load_edition(ed_id)
        for src_id, text in ed.sources.items():
            assert "shared/" not in text, (ed_id, src_id)
            if ed.track == "demo":   # synthetic: made by vcmctc itself
                continue
            # a repository@commit, a document number or a paper (journal/doi/url)
            assert re.search(r"[\w.-]+/[\w.-]+@[0-9a-f]{7}|WG4 N\d|Journal|doi:|https://", text), \
                (ed_id, src_id, text)
    for path in [*(REPO / "cfg").rglob("*.yaml"), *(REPO / "anchors").rglob("anchor.yaml")]:
        assert "shared/" not in path.read_text(), path


def test_edition_bd_settings_are_validated(tmp_path):
    ed = load_edition(write(tmp_path, "b1.yaml", MINIMAL.format(id="b1").replace(
        "sequences:", "bd: {policy: fit, fit_solver: slsqp, min_overlap: 0.5}\nsequences:")))
    assert (ed.bd.policy, ed.bd.fit_solver, ed.bd.min_overlap) == ("fit", "slsqp", 0.5)
    for bad, message in (("fit_solver: newton", "bd.fit_solver"), ("min_overlap: 2", "bd.min_overlap"),
                         ("min_overlap: yes", "bd.min_overlap"), ("solver: x", "unknown field")):
        path = write(tmp_path, "b2.yaml", MINIMAL.format(id="b2").replace(
            "sequences:", f"bd: {{{bad}}}\nsequences:"))
        with pytest.raises(UserError, match=message):
            load_edition(path)


def test_missing_items_need_a_note(tmp_path):
    text = MINIMAL.format(id="i1").replace("datasets: {SFU: {metric: coco-bbox-ap}}",
                                           "datasets: {SFU: {metric: coco-bbox-ap}, IMG: {kind: images, metric: coco-bbox-ap}}")
    text += "  Img1: {dataset: IMG, class: A, qps: {RA: [22, 27]}}\n"
    problems = check_edition(load_edition(write(tmp_path, "i1.yaml", text)))
    assert [p.level for p in problems] == ["error"] and "needs 'items'" in problems[0].message
    text2 = text.replace("i1", "i2").replace("qps: {RA: [22, 27]}}", "qps: {RA: [22, 27]}, notes: {items: unknown}}")
    problems = check_edition(load_edition(write(tmp_path, "i2.yaml", text2)))
    assert [(p.level, p.message) for p in problems] == [("warning", "no item count: unknown")]


# ---------------------------------------------------------------------------------------------
# Bad data: each gives a message naming the file and the sequence/field.


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


MINIMAL = textwrap.dedent("""\
    id: {id}
    title: test edition
    track: vcm
    sources: {{s1: "a test source"}}
    default_source: s1
    scenarios: [RA]
    rate_points: 2
    rate_unit: kbps
    classes: {{A: {{}}}}
    datasets: {{SFU: {{metric: coco-bbox-ap}}}}
    sequences:
      Seq1: {{dataset: SFU, class: A, width: 64, height: 48, fps: 30, total_frames: 10, skip: 2,
              frames: 8, tail: true, intra_period: 8, bit_depth: 8, qps: {{RA: [22, 27]}}}}
""")


def test_minimal_edition_loads(tmp_path):
    ed = load_edition(write(tmp_path, "t1.yaml", MINIMAL.format(id="t1")))
    assert ed.sequence("Seq1").frames == 8
    assert check_edition(ed) == []


@pytest.mark.parametrize("mutation, message", [
    (("fps: 30", "fps: fast"), "sequence Seq1: field 'fps': expected a positive number, got 'fast'"),
    (("dataset: SFU, class", "dataset: XYZ, class"), "sequence Seq1: field 'dataset': 'XYZ' is not defined"),
    (("class: A,", "class: Z,"), "sequence Seq1: field 'class': 'Z' is not defined"),
    (("bit_depth: 8", "bitdepth: 8"), "unknown field(s) 'bitdepth' (did you mean 'bit_depth'?)"),
    (("track: vcm", "track: xcm"), "field 'track': 'xcm' is not one of vcm, fcm, demo"),
    (("default_source: s1", "default_source: s2"), "field 'dataset' cites source 's2'"),
    (("metric: coco-bbox-ap", "metric: accuracy"), "field 'metric': 'accuracy' is not one of"),
])
def test_schema_errors_name_file_sequence_field(tmp_path, mutation, message):
    text = MINIMAL.format(id="t2").replace(*mutation)
    path = write(tmp_path, "t2.yaml", text)
    with pytest.raises(UserError) as err:
        load_edition(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_yaml_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "t3.yaml", MINIMAL.format(id="t3") + "  Seq2: {dataset: [\n")
    with pytest.raises(UserError, match=r"t3.yaml:1[45]: invalid YAML"):
        load_edition(path)


def test_unknown_edition_suggests():
    with pytest.raises(UserError, match="did you mean vcm-n0663, vcm-n0638"):
        load_edition("vcm-n0683")


def test_include_cycle(tmp_path):
    write(tmp_path, "a.yaml", "include: b.yaml\nabstract: true\n")
    write(tmp_path, "b.yaml", "include: a.yaml\nabstract: true\n")
    path = write(tmp_path, "c.yaml", "include: a.yaml\n" + MINIMAL.format(id="c"))
    with pytest.raises(UserError, match="include cycle: c.yaml -> a.yaml -> b.yaml -> a.yaml"):
        load_edition(path)


def test_override_of_a_fact_needs_a_note(tmp_path):
    write(tmp_path, "base/clips.yaml", textwrap.dedent("""\
        abstract: true
        sources: {clips: "clip metadata"}
        default_source: clips
        sequences:
          Seq1: {dataset: SFU, class: A, width: 64, height: 48, fps: 30, total_frames: 10,
                 skip: 2, frames: 8, tail: true, intra_period: 8, bit_depth: 8}
        """))
    body = MINIMAL.format(id="over").split("sequences:")[0]
    path = write(tmp_path, "over.yaml", "include: base/clips.yaml\n" + body + textwrap.dedent("""\
        sequences:
          Seq1: {fps: 60, qps: {RA: [22, 27]}}
        """))
    ed = load_edition(path)
    seq = ed.sequence("Seq1")
    assert seq.fps == 60 and seq.disagreements == {"fps": (30, "clips")}
    assert seq.field_sources["fps"] == "s1" and seq.field_sources["width"] == "clips"
    problems = check_edition(ed)
    assert [p.message for p in problems] == ["fps = 60 overrides 30 from clips without a note"]
    path.write_text(path.read_text().replace("Seq1: {fps: 60,", "Seq1: {fps: 60, notes: {fps: why},"))
    from vcmctc.ctc.editions import _load_path
    _load_path.cache_clear()
    assert check_edition(load_edition(path)) == []


def test_check_catches_swapped_frames_and_qp_count(tmp_path):
    # The known metadata bug: a 50 fps clip given the frame range of a 60 fps clip.
    text = MINIMAL.format(id="bad").replace("frames: 8,", "frames: 7,").replace(
        "qps: {RA: [22, 27]}", "qps: {RA: [22, 27, 32]}")
    ed = load_edition(write(tmp_path, "bad.yaml", text))
    messages = sorted(p.message for p in check_edition(ed))
    assert messages == ["3 QPs for RA, the edition has 2 rate points",
                        "tail clip: frames coded 7 != total 10 - skip 2"]


def test_check_catches_duplicate_alias(tmp_path):
    text = MINIMAL.format(id="dup") + (
        "  Seq2: {dataset: SFU, class: A, aliases: [Seq1], width: 64, height: 48, fps: 30,\n"
        "         frames: 8, intra_period: 8, bit_depth: 8, qps: {RA: [22, 27]}}\n")
    ed = load_edition(write(tmp_path, "dup.yaml", text))
    assert [p.message for p in check_edition(ed)] == ["name 'Seq1' is already used by sequence Seq1"]
