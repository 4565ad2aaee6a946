"""From "Use it as a style" to a visible preview, in a real browser, for paintings never trained on.

    python benchmarks/web_preview.py --paintings ../shared/data/paintings --holdout configs/paintings_holdout.txt \
        --count 8 [--json out.json]

Starts `stylecast serve` (default threads, as a user runs it) and Debian's chromium (playwright),
uploads each painting through the page's "Upload your own painting" form, and reads the seconds
from the click to the preview image loaded (the page records them in ``data-seconds``): the upload,
the instant code (E's statistics and the style encoder), the preview photo stylized, and both
pictures fetched and drawn. The first upload is reported apart: it may still wait for E to load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from web_load import start_server

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paintings", required=True)
    parser.add_argument("--holdout", required=True)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to wait after the server starts")
    parser.add_argument("--json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    lines = [ln.strip() for ln in Path(args.holdout).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    picks = lines[:: max(1, len(lines) // args.count)][: args.count]
    with tempfile.TemporaryDirectory(prefix="stylecast-preview-") as tmp:
        process, url = start_server(Path(tmp) / "data", sessions=8, threads=None, model=None)  # serve's defaults
        try:
            time.sleep(args.settle)  # as a visitor arriving a little after the start: E has loaded
            seconds = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page()
                page.goto(url)
                for index, line in enumerate(picks):
                    source = Path(args.paintings) / line
                    upload = Path(tmp) / f"painting{index}.jpg"
                    Image.open(source).convert("RGB").save(upload, quality=92)  # what a user would pick
                    page.evaluate("document.getElementById('painting-preview').hidden = true")
                    page.set_input_files("#painting-file", str(upload))
                    page.click("#painting-form button[type=submit]")
                    page.wait_for_function(
                        f"document.getElementById('painting-caption').textContent.startsWith('painting{index}.jpg')",
                        timeout=60_000)
                    seconds.append(float(page.get_attribute("#painting-preview", "data-seconds") or "nan"))
                    print(f"{line}: preview after {seconds[-1]:.2f} s", file=sys.stderr)
                browser.close()
        finally:
            process.terminate()
            process.wait(30)
    result = {"paintings": len(seconds), "first_s": seconds[0], "median_s": round(statistics.median(seconds), 3),
              "max_s": max(seconds), "all_s": seconds}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
