"""Writing videos prints nothing from ffmpeg: only the command's own messages reach the console."""

import re
import sys
from pathlib import Path

import pytest

NET = Path(__file__).parents[1] / "fixtures" / "ada_tiny.pkl"
FFMPEG_LINE = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]", re.MULTILINE)


@pytest.mark.parametrize("output,fps", [("walk.gif", 200), ("walk.mp4", 30)])
def test_video_prints_no_ffmpeg_messages(tmp_path, capfd, output, fps):
    from cli.app import main

    old = sys.argv
    sys.argv = ["s2edit", "video", "--network", str(NET), "--seeds", "0,1", "--frames", "3", "--fps", str(fps),
                "--output", str(tmp_path / output)]
    try:
        main()
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    finally:
        sys.argv = old
    err = capfd.readouterr().err
    assert (tmp_path / output).stat().st_size > 0
    assert not FFMPEG_LINE.search(err) and "DTS" not in err, err  # a 200 fps GIF made ffmpeg warn per frame
