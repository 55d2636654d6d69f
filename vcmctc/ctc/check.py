"""Consistency checks of a loaded edition (``vcmctc tables --check``).

Errors are contradictions the data must not contain; warnings are gaps the sources leave open
(e.g. QPs no public source gives), which the edition must document with a note: a sequence note
(``notes: {qps: ...}``, ``notes: {items: ...}``) or, for QPs missing throughout an edition, the
edition's ``notes.qps``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcmctc.ctc.editions import Edition


@dataclass(frozen=True)
class Problem:
    level: str  # "error" | "warning"
    edition: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.edition}: {self.where}: {self.message}"


def check_edition(ed: Edition) -> list[Problem]:
    problems: list[Problem] = []

    def add(level: str, where: str, msg: str) -> None:
        problems.append(Problem(level, ed.id, where, msg))

    # Unique ids and aliases across the edition.
    owner: dict[str, str] = {}
    for seq in ed.sequences.values():
        for name in (seq.id, *seq.aliases):
            if name in owner and owner[name] != seq.id:
                add("error", f"sequence {seq.id}",
                    f"name {name!r} is already used by sequence {owner[name]}")
            owner.setdefault(name, seq.id)
        if len(set(seq.aliases)) != len(seq.aliases):
            add("error", f"sequence {seq.id}", "duplicate alias")

    for seq in ed.sequences.values():
        where = f"sequence {seq.id}"
        if seq.kind == "video" or seq.kind == "video-set":
            for fld in ("fps", "frames", "width", "height", "intra_period", "bit_depth"):
                if getattr(seq, fld) is None:
                    add("error", where, f"a {seq.kind} needs {fld!r}")
        if seq.kind in ("images", "video-set") and seq.items is None:
            if "items" in seq.notes:
                add("warning", where, f"no item count: {seq.notes['items']}")
            else:
                add("error", where, f"a {seq.kind} needs 'items' (how many images or sequences) "
                                    "or a note saying why it is not known")
        if seq.rate_unit is None:
            add("error", where, "no rate unit (set it on the sequence, its dataset or the edition)")
        if seq.metric is None:
            add("error", where, "no metric (set it on the sequence or its dataset)")

        # Frame bookkeeping: a window never runs past the source; a tail clip is exactly the
        # last N frames (catches swapped frame ranges and wrong skip values).
        if None not in (seq.total_frames, seq.skip, seq.frames):
            if seq.skip + seq.frames > seq.total_frames:
                add("error", where, f"skip {seq.skip} + frames {seq.frames} exceeds the "
                                    f"{seq.total_frames} frames of the source")
            elif seq.tail and seq.skip + seq.frames != seq.total_frames:
                add("error", where, f"tail clip: frames coded {seq.frames} != total "
                                    f"{seq.total_frames} - skip {seq.skip}")
        if seq.first_frame not in (0, 1):
            add("warning", where, f"unusual first frame index {seq.first_frame}")

        # QPs: one per rate point, distinct.
        if seq.qps is None:
            why = seq.notes.get("qps") or ed.notes.get("qps")
            if why is None:
                add("error", where, "no QPs and no note saying why (on the sequence, or the "
                                    "edition's notes.qps)")
            else:
                add("warning", where, f"no QPs: {why}")
        else:
            if seq.qps_for(ed.default_scenario) is None:
                add("error", where, f"no QPs for the default scenario {ed.default_scenario}")
            for scen, qps in seq.qps.items():
                if scen not in ed.scenarios:
                    add("error", where, f"QPs for unknown scenario {scen!r}")
                if len(qps) != ed.rate_points:
                    add("error", where, f"{len(qps)} QPs for {scen}, the edition has "
                                        f"{ed.rate_points} rate points")
                if len(set(qps)) != len(qps):
                    add("error", where, f"repeated QP in {scen}: {list(qps)}")

        # A clip fact replaced from an included file must be explained.
        for fld, (other, source) in seq.disagreements.items():
            if fld not in seq.notes:
                add("error", where, f"{fld} = {getattr(seq, fld)!r} overrides {other!r} from "
                                    f"{source} without a note")

    for cls in ed.classes:
        if not ed.class_members(cls):
            add("error", f"class {cls}", "has no sequences")
    return problems
