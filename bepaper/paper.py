"""The paper's reported numbers (Tables 1-4, Figures 4-5), as data.

Transcribed from the OCR of the CVPR 2021 paper (`shared/paper/000_aca4b5b499a1f9e0.txt`).
Each number is one `Entry`: a table, the row's method label, a column (dataset or metric),
the value, and what identifies the row (backbone, pretraining set). Nothing here is guessed:

status (what `value` rests on):
    "read"           the cell is printed cleanly in the OCR;
    "recovered"      the cell is garbled in the OCR, its digits are still visible, and the
                     paper's stated gain gives the same number (the note says how);
    "garbled"        unreadable in the OCR: `value` is None (`implied` may hold what the
                     stated gain implies; it is not a reading);
    "label_inferred" the number is read, but the row has no method name in the OCR; the
                     label is inferred from the layout and the gain arithmetic (see note);
    "not_reported"   the paper prints "-": `value` is None;
    "text"           the number is given in the running text (Figures 4 and 5);
    "figure_only"    a bar of a figure that the text does not give: `value` is None.

`gain` is a difference the paper states for the cell, signed: the "(x↑)" / "(x↓)"
annotations of Tables 1, 2 and 4, and the differences that the text states (Table 3's
"0.7% ... 2.2%", Figure 5's gaps and BE gains). It always means
value - value(`baseline` row, same table, column, backbone and pretraining set).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields

from bepaper.errors import ConfigError

TABLES = {
    "table1": "Top-1 (%) on UCF101 and HMDB51 after fine-tuning (mean over the 3 splits)",
    "table2": "Top-1 (%) on Diving48",
    "table3": "Retrieval recall@K (%) on HMDB51, backbone frozen after pretraining on UCF101",
    "table4": "Top-1 (%) of distracting-video variants, MoCo + I3D pretrained on UCF101 split 1",
    "figure4": "Pearson correlation: static-video accuracy vs BE's relative gain, HMDB51",
    "figure5": "HMDB51 vs Actor-HMDB51, I3D pretrained on K400 (numbers from the text)",
}
STATUSES = ("read", "recovered", "garbled", "label_inferred", "not_reported", "text", "figure_only")

FIGURE4_RHO = -0.48  # Pearson ρ, §4.5
FIGURE4_P = 0.0004  # its p-value, §4.5
FIGURE4_POINTS = 51  # "each dot represents a class in HMDB51" (caption of Figure 4)
# Figure 5, from §4.6 and the caption: (HMDB51, Actor-HMDB51).
FIGURE5_K400_SUPERVISED = (74.5, 43.5)
FIGURE5_MOCO_BE = (55.4, 40.6)
FIGURE5_GAP_SUPERVISED_MINUS_BE = (19.1, 2.9)
FIGURE5_BE_GAIN_OVER_MOCO = (18.2, 16.1)
FIGURE5_NOTE = (
    "The text gives the K400-supervised and MoCo+BE accuracies, their gaps and BE's gains "
    "over MoCo; the MoCo bars themselves, and any other bar of Figure 5, are only in the "
    "figure, which the OCR does not hold."
)


@dataclass(frozen=True)
class Entry:
    """One number of the paper. `value` in percent (Figure 4: ρ and p), or None."""

    table: str
    line: int  # the row's position in its table (1-based), so repeated labels stay apart
    row: str  # method label, without its reference
    column: str  # dataset ("UCF101") or metric ("R@5", "pearson_rho")
    value: float | None
    backbone: str | None = None
    pretrain: str | None = None  # pretraining set; "none" where the paper prints "X"
    gain: float | None = None
    baseline: str | None = None
    implied: float | None = None
    status: str = "read"
    note: str = ""
    ref: str | None = None  # the paper's reference number, e.g. "[34]"
    venue: str | None = None  # e.g. "ECCV, 2016"
    section: str | None = None  # "supervised" / "self-supervised" (Tables 1 and 2)
    depth: int | None = None  # Table 1
    duration: str | None = None  # Table 1: pretraining duration, e.g. "28d"
    frames: int | None = None  # Table 1
    resolution: int | None = None  # Table 1
    single_modality: bool | None = None  # Tables 1 and 2
    paradigm: str | None = None  # Table 1: "C" contrastive / "P" pretext


@dataclass(frozen=True)
class _Cell:
    value: float | None
    gain: float | None = None
    status: str = "read"
    note: str = ""
    implied: float | None = None


def _cell(x) -> _Cell:
    if isinstance(x, _Cell):
        return x
    if x is None:
        return _Cell(None, status="not_reported", note="'-' in the paper: not reported")
    return _Cell(float(x))


def _join(*notes: str) -> str:
    return " ".join(n for n in notes if n)


def _row(table: str, line: int, row: str, cells: dict, *, note: str = "", **meta) -> list[Entry]:
    out = []
    for column, x in cells.items():
        c = _cell(x)
        out.append(
            Entry(
                table=table,
                line=line,
                row=row,
                column=column,
                value=c.value,
                gain=c.gain,
                implied=c.implied,
                status=c.status,
                note=_join(c.note, note),
                **meta,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Table 1: UCF101 / HMDB51 top-1
_SLASH = "Single-Mod printed '/' in the OCR, read as ✓."
_BLANK_SINGLE = "Single-Mod cell blank in the OCR."
_OURS = "◊: the authors' own implementation."


def _t1(
    line, row, ref, venue, section, backbone, depth, pretrain, duration, frames, res, single,
    paradigm, ucf, hmdb, *, baseline=None, note="",
):  # fmt: skip
    return _row(
        "table1",
        line,
        row,
        {"UCF101": ucf, "HMDB51": hmdb},
        note=note,
        ref=ref,
        venue=venue,
        section=section,
        backbone=backbone,
        depth=depth,
        pretrain=pretrain,
        duration=duration,
        frames=frames,
        resolution=res,
        single_modality=single,
        paradigm=paradigm,
        baseline=baseline,
    )


_SUP, _SSL = "supervised", "self-supervised"
_TABLE1 = [
    *_t1(1, "Random Init", None, None, _SUP, "I3D", 22, "none", None, None, 224, True, None,
         60.5, 21.2, note="Pretrain 'X' in the table: no pretraining."),
    *_t1(2, "ImageNet Supervised", None, None, _SUP, "I3D", 22, "ImageNet", None, None, 224,
         True, None, 67.1, 28.5),
    *_t1(3, "K400 Supervised", None, None, _SUP, "I3D", 22, "K400", "28d", None, 224, True,
         None, 96.8, 74.5),
    *_t1(4, "Shuffle", "[34]", "ECCV, 2016", _SSL, "AlexNet", 8, "UCF101", "1d", None, 112,
         True, "P", 50.2, 18.1),
    *_t1(5, "VGAN", "[47]", "NeurIPS, 2016", _SSL, "VGAN", 22, "UCF101", "1d", None, 112, True,
         "P", 52.1, None),
    *_t1(6, "OPN", "[28]", "ICCV, 2017", _SSL, "CaffeNet", 14, "UCF101", "1d", None, 112, True,
         "P", 56.3, 22.1),
    *_t1(7, "Geometry", "[12]", "CVPR, 2018", _SSL, "FlowNet", 56, "UCF101", "1d", 16, 112,
         False, "P", 55.1, 23.3),
    *_t1(8, "IIC", "[43]", "ACM MM, 2020", _SSL, "C3D", 10, "UCF101", "1d", 16, 112, False, "C",
         72.7, 36.8),
    *_t1(9, "Pace", "[49]", "ECCV, 2020", _SSL, "R(2+1)D", 23, "K400", "28d", 16, 112, True, "C",
         77.1, 36.6,
         note="The table cites Pace as [49]; the bibliography's Pace entry is [50]."),
    *_t1(10, "3D RotNet", "[23]", "2018", _SSL, "C3D", 10, "K400", "28d", 16, 112, None, "P",
         62.9,
         _Cell(None, status="garbled", implied=33.7,
               note="Garbled in the OCR ('- <del> </del>', no digits). The stated gain "
                    "implies 37.4 - 3.7 = 33.7; not stored as the value, since it is not "
                    "read and this table's gains are not always exact (MoCo + BE, C3D, "
                    "HMDB51)."),
         note="Backbone cell blank in the OCR; C3D inferred from its '+ BE' row (same depth "
              "10, same setting). C/P printed 'P^-' in the OCR, read as P. " + _BLANK_SINGLE),
    *_t1(11, "3D RotNet + BE", None, None, _SSL, "C3D", 10, "K400", "28d", 16, 112, True, "P",
         _Cell(65.4, gain=2.5), _Cell(37.4, gain=3.7), baseline="3D RotNet"),
    *_t1(12, "ST Puzzles", "[26]", "AAAI, 2019", _SSL, "C3D", 10, "UCF101", "1d", 48, 112, True,
         "P", 60.6,
         _Cell(28.3, status="recovered",
               note="OCR garbled ('- <del>2</del>8. <del>3</del>'); digits 28.3 confirmed by "
                    "the stated gain (30.8 - 2.5 = 28.3)."),
         note="OCR shows '_ C3D', '_UCF101(1d)', frames '- <sub>48</sub>' (read 48, as its "
              "'+ BE' row), C/P 'P^-' (read P). " + _SLASH),
    *_t1(13, "ST Puzzles + BE", None, None, _SSL, "C3D", 10, "UCF101", "1d", 48, 112, True, "P",
         _Cell(63.7, gain=3.1), _Cell(30.8, gain=2.5), baseline="ST Puzzles"),
    *_t1(14, "Clip Order", "[57]", "CVPR, 2019", _SSL, "C3D", 10, "UCF101", "1d", 64, 112, True,
         "P", 65.6, 28.4,
         note="Backbone cell blank in the OCR; C3D inferred from its '+ BE' row (same depth "
              "10, same setting). " + _SLASH),
    *_t1(15, "Clip Order + BE", None, None, _SSL, "C3D", 10, "UCF101", "1d", 64, 112, True, "P",
         _Cell(68.5, gain=2.9), _Cell(32.8, gain=4.4), baseline="Clip Order"),
    *_t1(16, "MoCo", "[21]", "CVPR, 2020", _SSL, "C3D", 10, "UCF101", "1d", 16, 112, True, "C",
         _Cell(60.5, status="recovered",
               note="OCR garbled ('$-60.\\overline{5}$'); digits 60.5 confirmed by the stated "
                    "gain (72.4 - 11.9 = 60.5)."),
         _Cell(27.2,
               note="Printed '_ 27.2' (stray underline, digits clear). The '+ BE' row states a "
                    "gain of 14.1, but 42.3 - 27.2 = 15.1: the paper is inconsistent here and "
                    "the text does not say which number is wrong."),
         note=_join(_OURS, "OCR shows '_C3D', '_UCF101(1d)', C/P 'C̄' (read C).", _SLASH)),
    *_t1(17, "MoCo + BE", None, None, _SSL, "C3D", 10, "UCF101", "1d", 16, 112, True, "C",
         _Cell(72.4, gain=11.9),
         _Cell(42.3, gain=14.1,
               note="Gain printed '14.1†' (read ↑). 42.3 - 27.2 = 15.1, not 14.1: the paper "
                    "is inconsistent here."),
         baseline="MoCo"),
    *_t1(18, "CoCLR", "[19]", "NeurIPS, 2020", _SSL, None, 23, "K400", "28d", 32, 128, False,
         "C", 87.9, 54.6,
         note="Backbone cell blank in the OCR: not recorded (depth 23 fits S3D, CoCLR's own "
              "backbone, but that is not read from this paper). C/P 'C̄' read as C."),
    *_t1(19, "DPC", "[17]", "ICCVW, 2019", _SSL, "R3D", 34, "K400", "28d", 64, 224, True, "P",
         75.7, 35.7),
    *_t1(20, "AoT", "[54]", "CVPR, 2018", _SSL, "T-CAM", None, "K400", "28d", 64, 224, True, "P",
         79.4, None, note="Depth '-' in the table."),
    *_t1(21, "Pace", "[49]", "ECCV, 2020", _SSL, "S3D-G", 23, "K400", "28d", 64, 224, True, "C",
         87.1, 52.6,
         note="The table cites Pace as [49]; the bibliography's Pace entry is [50]."),
    *_t1(22, "SpeedNet", "[1]", "CVPR, 2020", _SSL, "S3D-G", 23, "K400", "28d", 64, 224, True,
         "P", 81.1, 48.8),
    *_t1(23, "SpeedNet", "[1]", "CVPR, 2020", _SSL, "I3D", 22, "K400", "28d", 64, 224, True, "P",
         66.7, 43.7),
    *_t1(24, "MoCo", "[21]", "CVPR, 2020", _SSL, "I3D", 22, "K400", "28d", 16, 224, True, "C",
         70.4,
         _Cell(36.3, status="recovered",
               note="OCR garbled ('- <u>3</u> 6. <u>3</u>'); digits 36.3 confirmed by the "
                    "stated gain (55.4 - 19.1 = 36.3)."),
         note=_join(_OURS, "OCR shows '_ I3D', depth '$-2\\overline{2}$' (22), "
                    "'_K400(28d)', resolution '$\\overline{2}2\\overline{4}$' (224), C/P 'C̄' "
                    "(C).", _SLASH)),
    *_t1(25, "MoCo + BE", None, None, _SSL, "I3D", 22, "K400", "28d", 16, 224, True, "C",
         _Cell(86.8, gain=16.4), _Cell(55.4, gain=19.1), baseline="MoCo",
         note="Gains 16.4 / 19.1 also in the abstract and §4.2."),
    *_t1(26, "MoCo + BE", None, None, _SSL, "I3D", 22, "UCF101", "1d", 16, 224, None, "C",
         82.4, 52.9,
         note="Backbone cell blank in the OCR; I3D inferred from depth '$-2\\overline{2}$' "
              "(22, as every I3D row) and from Table 4, whose Intra-Video Frame row (MoCo + "
              "BE, I3D, pretrained on UCF101) has the same 82.4 / 52.9. C/P 'C̄' read as C. "
              + _BLANK_SINGLE),
    *_t1(27, "MoCo + BE", None, None, _SSL, "R3D", 34, "UCF101", "1d", 16, 224, True, "C",
         83.4, 53.7),
    *_t1(28, "MoCo + BE", None, None, _SSL, "R3D", 34, "K400", "28d", 16, 224, True, "C",
         87.1, 56.2),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Table 2: Diving48 top-1
def _t2(line, row, ref, venue, section, backbone, pretrain, single, value, **kw):
    return _row(
        "table2",
        line,
        row,
        {"Diving48": value},
        ref=ref,
        venue=venue,
        section=section,
        backbone=backbone,
        pretrain=pretrain,
        single_modality=single,
        **kw,
    )


def _inferred_moco(value: float, be_value: float, gain: float, pretrain: str) -> _Cell:
    return _Cell(
        value,
        status="label_inferred",
        note=(
            f"The method cell is blank in the OCR; label and backbone inferred, not read: "
            f"the row sits above 'MoCo + BE (I3D)' pretrained on {pretrain}, whose stated gain "
            f"gives {be_value} - {gain} = {value}, this row's number. So this is that row's "
            f"MoCo baseline (I3D, {pretrain})."
        ),
    )


_TABLE2 = [
    *_t2(1, "R(2+1)D", "[46]", "CVPR, 2018", _SUP, "R(2+1)D", "none", True, 21.4,
         note="Pretrain 'X' in the table: no pretraining."),
    *_t2(2, "R(2+1)D", "[46]", "CVPR, 2018", _SUP, "R(2+1)D", "Sports1M", True, 28.9),
    *_t2(3, "I3D", "[7]", "CVPR, 2017", _SUP, "I3D", "ImageNet", True, 20.5,
         note=_join(_OURS, "Venue printed '[CVPR, 20187]' in the OCR (read 2017).")),
    *_t2(4, "I3D", "[7]", "CVPR, 2017", _SUP, "I3D", "K400", True, 27.4,
         note=_join(_OURS, "27.4 also in §4.2.")),
    *_t2(5, "TRN", "[64]", "ECCV, 2018", _SUP, None, "ImageNet", False, 22.8),
    *_t2(6, "DIMOFS", "[2]", "2018", _SUP, None, "K400+Track", False, 31.4),
    *_t2(7, "GST", "[31]", "ICCV, 2019", _SUP, None, "ImageNet", True, 38.8),
    *_t2(8, "Att-LSTM", "[24]", "CVPRW, 2019", _SUP, None, "ImageNet", True, 35.6),
    *_t2(9, "GSM", "[42]", "CVPR, 2020", _SUP, None, "ImageNet", True, 40.3),
    *_t2(10, "CorrNet", "[48]", "CVPR, 2020", _SUP, None, "Sports1M", True, 44.7),
    *_t2(11, "MoCo + BE", None, None, _SSL, "I3D", "Diving48", True, 58.3,
         note="58.3 also in §4.2."),
    *_t2(12, "MoCo + BE", None, None, _SSL, "R3D-18", "UCF101", None, 46.6,
         note="Printed 'MoCo + BE (R3D-18)'. " + _BLANK_SINGLE),
    *_t2(13, "MoCo", None, None, _SSL, "I3D", "UCF101", None,
         _inferred_moco(43.2, 58.8, 15.6, "UCF101"), note=_BLANK_SINGLE),
    *_t2(14, "MoCo + BE", None, None, _SSL, "I3D", "UCF101", True, _Cell(58.8, gain=15.6),
         baseline="MoCo"),
    *_t2(15, "MoCo", None, None, _SSL, "I3D", "K400", None,
         _inferred_moco(47.9, 62.4, 14.5, "K400"), note=_BLANK_SINGLE),
    *_t2(16, "MoCo + BE", None, None, _SSL, "I3D", "K400", True, _Cell(62.4, gain=14.5),
         baseline="MoCo", note="62.4 in §4.2; the gain 14.5 also in the abstract."),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Table 3: retrieval recall@K on HMDB51
RECALL_K = (1, 5, 10, 20, 50)


def _t3(line, row, ref, backbone, recalls, pretrain=None, note="", baseline=None):
    cells = {f"R@{k}": r for k, r in zip(RECALL_K, recalls, strict=True)}
    return _row(
        "table3", line, row, cells, ref=ref, backbone=backbone, pretrain=pretrain, note=note,
        baseline=baseline,
    )  # fmt: skip


_RET = "Pretrained on UCF101 split 1 (§4.3)."
_TEXT_GAIN = "Gain stated in §4.3's text, not in the table."
_TABLE3 = [
    *_t3(1, "Clip Order", "[57]", "C3D", (7.4, 22.6, 34.4, 48.5, 70.1)),
    *_t3(2, "Clip Order", "[57]", "R3D", (7.6, 22.9, 34.4, 48.8, 68.9)),
    *_t3(3, "VCP", "[32]", "C3D", (7.8, 23.8, 35.3, 49.3, 71.6)),
    *_t3(4, "MemDPC", "[18]", "R3D", (7.7, 25.7, 40.6, 57.7, None)),
    *_t3(5, "Pace", "[50]", "R3D", (9.6, 26.9, 41.1, 56.1, 76.5)),
    *_t3(6, "MoCo", "[21]", "C3D", (9.5, 25.4, 38.3, 52.2, 72.4), "UCF101", _join(_OURS, _RET)),
    *_t3(7, "MoCo + BE", None, "C3D",
         (_Cell(10.2, gain=0.7, note=_TEXT_GAIN), _Cell(27.6, gain=2.2, note=_TEXT_GAIN),
          40.5, 56.2, 76.6), "UCF101", _RET, baseline="MoCo"),
    *_t3(8, "MoCo + BE", None, "I3D", (9.3, 28.8, 41.4, 57.9, 78.5), "UCF101", _RET),
    *_t3(9, "MoCo + BE", None, "R3D", (11.9, 31.3, 44.5, 60.5, 81.4), "UCF101", _RET),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Table 4: distracting-video variants (MoCo, I3D, pretrained on UCF101 split 1, Eq. 7)
_ARROWS = "Arrows OCR'd as '†' (↑) and 'ψ' (↓); each direction agrees with the arithmetic."


def _t4(line, row, ucf, hmdb, ucf_gain=None, hmdb_gain=None, note=""):
    base = None if ucf_gain is None else "baseline"
    return _row(
        "table4",
        line,
        row,
        {"UCF101": _Cell(ucf, gain=ucf_gain), "HMDB51": _Cell(hmdb, gain=hmdb_gain)},
        backbone="I3D",
        pretrain="UCF101",
        baseline=base,
        note=_join(note, "" if base is None else _ARROWS),
    )


_TABLE4 = [
    *_t4(1, "baseline", 72.7, 42.1, note="MoCo with hard negatives (Eq. 7), no distraction."),
    *_t4(2, "Gaussian Noise", 73.2, 42.4, 0.5, 0.3),
    *_t4(3, "Video Mixup", 68.3, 38.1, -4.4, -4.0),
    *_t4(4, "Video CutMix", 71.2, 40.5, -1.5, -1.6),
    *_t4(5, "Inter-Video Frame", 77.4, 46.5, 4.7, 4.4),
    *_t4(6, "Intra-Video Frame", 82.4, 52.9, 9.7, 10.8, note="Intra-Video Frame is BE."),
]


# ---------------------------------------------------------------------------------------------
# Figures 4 and 5 (numbers in the text)
_F4 = "§4.5: I3D pretrained on K400 with MoCo with/without BE, fine-tuned on HMDB51."
_FIGURE4 = _row(
    "figure4",
    1,
    "static accuracy vs relative gain of MoCo + BE over MoCo",
    {
        "pearson_rho": _Cell(FIGURE4_RHO, status="text", note="ρ = -0.48 in §4.5."),
        "p_value": _Cell(FIGURE4_P, status="text", note="p-value 0.0004 in §4.5."),
    },
    backbone="I3D",
    pretrain="K400",
    note=_F4,
)

_F5 = "§4.6 and the caption of Figure 5; I3D pretrained on K400."
_F5_MOCO = "Only in the figure (not in the OCR); implied by BE's stated gain over MoCo, not read."
_FIGURE5 = [
    *_row(
        "figure5", 1, "K400 Supervised",
        {"HMDB51": _Cell(74.5, gain=19.1, status="text",
                         note="Gap to MoCo + BE stated as '19.1%(74.5%-55.4%)'; 74.5 is also "
                              "Table 1's K400 Supervised HMDB51."),
         "Actor-HMDB51": _Cell(43.5, gain=2.9, status="text",
                               note="Gap to MoCo + BE stated as '2.9% (43.5%-40.6%)'.")},
        backbone="I3D", pretrain="K400", baseline="MoCo + BE", note=_F5,
    ),
    *_row(
        "figure5", 2, "MoCo + BE",
        {"HMDB51": _Cell(55.4, gain=18.2, status="text",
                         note="BE's gain over MoCo stated as 18.2 here, while Table 1 gives "
                              "19.1 (55.4 - 36.3) for the same setting; the text does not "
                              "explain the difference."),
         "Actor-HMDB51": _Cell(40.6, gain=16.1, status="text")},
        backbone="I3D", pretrain="K400", baseline="MoCo", note=_F5,
    ),
    *_row(
        "figure5", 3, "MoCo",
        {"HMDB51": _Cell(None, status="figure_only", implied=37.2, note=_F5_MOCO),
         "Actor-HMDB51": _Cell(None, status="figure_only", implied=24.5, note=_F5_MOCO)},
        backbone="I3D", pretrain="K400", note=_F5,
    ),
]  # fmt: skip

_ENTRIES: tuple[Entry, ...] = tuple(_TABLE1 + _TABLE2 + _TABLE3 + _TABLE4 + _FIGURE4 + _FIGURE5)


def _check_table(table: str | None) -> None:
    if table is not None and table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; choose from {list(TABLES)}")


def entries(table: str | None = None) -> list[Entry]:
    """Every entry, in the paper's order; only those of `table` if given."""
    _check_table(table)
    return [e for e in _ENTRIES if table is None or e.table == table]


def _norm(s: str | None) -> str:
    return " ".join(str(s).casefold().split())


def _describe(e: Entry) -> str:
    return f"{e.row!r} / {e.column!r} (backbone={e.backbone}, pretrain={e.pretrain})"


def lookup(
    table: str, row: str, column: str, backbone: str | None = None, pretrain: str | None = None
) -> Entry:
    """The one entry matching (case-insensitively) row and column, and backbone / pretrain
    where given. Raises ConfigError naming near matches if there is none, or the candidates
    if several match."""
    pool = entries(table)
    found = [
        e
        for e in pool
        if _norm(e.row) == _norm(row)
        and _norm(e.column) == _norm(column)
        and (backbone is None or _norm(e.backbone) == _norm(backbone))
        and (pretrain is None or _norm(e.pretrain) == _norm(pretrain))
    ]
    if len(found) == 1:
        return found[0]
    want = f"{table}: row {row!r}, column {column!r}, backbone={backbone}, pretrain={pretrain}"
    if len(found) > 1:
        options = "; ".join(_describe(e) for e in found)
        raise ConfigError(f"{want} is ambiguous; pass backbone/pretrain: {options}")
    rows = sorted({e.row for e in pool})
    cols = sorted({e.column for e in pool})
    near = [e for e in pool if _norm(e.row) == _norm(row) and _norm(e.column) == _norm(column)]
    if near:
        hint = "entries with that row and column: " + "; ".join(_describe(e) for e in near)
    else:
        close = difflib.get_close_matches(row, rows, n=3, cutoff=0.4)
        hint = f"rows like it: {close or rows}; columns: {cols}"
    raise ConfigError(f"no entry for {want}; {hint}")


def as_frame(table: str):
    """The entries of `table` as a long pandas DataFrame (one row per number), with the
    columns that the table uses."""
    import pandas as pd

    _check_table(table)
    rows = [{f.name: getattr(e, f.name) for f in fields(Entry)} for e in entries(table)]
    frame = pd.DataFrame(rows)
    for name in ("depth", "frames", "resolution"):
        frame[name] = frame[name].astype("Int64")  # integers with gaps, not floats
    keep = [c for c in frame.columns if c in ("value", "note") or frame[c].notna().any()]
    return frame[keep].drop(columns="table")
