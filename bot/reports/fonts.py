"""The CJK font the PDF report embeds: WenQuanYi Micro Hei (文泉驿微米黑, Apache 2.0 / GPLv3
with the font-embedding exception), installed from PyPI with the `paperang-p2-fonts-cjk`
package (a 2.3 MB wheel: far smaller than the Noto CJK wheels of 17–85 MB). Only the glyphs a
report uses go into its PDF. `GRIDBOT_REPORT_FONT` names another TrueType font or collection
(.ttf, .ttc) to use instead."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

FONT_ENV = "GRIDBOT_REPORT_FONT"
PACKAGE, RESOURCE = "paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc"


class FontMissing(RuntimeError):
    """No CJK font could be found for the PDF."""


def cjk_font() -> Path:
    """The path of the font file the PDF embeds."""
    chosen = os.environ.get(FONT_ENV, "").strip()
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise FontMissing(f"{FONT_ENV}={chosen} is not a font file")
        return path
    try:
        path = Path(str(resources.files(PACKAGE).joinpath(RESOURCE)))
    except ModuleNotFoundError as exc:
        raise FontMissing(f"the PDF needs a Chinese font: pip install paperang-p2-fonts-cjk, "
                          f"or set {FONT_ENV} to a .ttf/.ttc file") from exc
    if not path.is_file():
        raise FontMissing(f"{path} is missing; reinstall paperang-p2-fonts-cjk")
    return path
