"""Makes asv's published HTML viewable without a network: copies vendor/
into html/vendor/ and points the CDN <script>/<link> tags of html/*.html at
those copies. Run after `asv publish`; then open html/index.html through
`asv preview` or `python -m http.server -d html` (browsers refuse the
page's data requests from file:// URLs)."""

import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The file name at the end of each CDN address -> the vendored copy.
LOCAL = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable.min.js": "stupidtable.js",
    "md5.min.js": "md5.js",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
}

CDN_TAG = re.compile(r'(src|href)="https://[^"]*/([^"/]+)"((?:\s+(?:integrity|crossorigin|referrerpolicy)="[^"]*")*)')


def localize(html: str) -> str:
    def local(match: re.Match) -> str:
        name = LOCAL.get(match.group(2))
        return match.group(0) if name is None else f'{match.group(1)}="vendor/{name}"'

    return CDN_TAG.sub(local, html)


def main(html_dir: Path) -> int:
    if not (html_dir / "index.html").exists():
        print(f"{html_dir}/index.html not found: run `asv publish` first", file=sys.stderr)
        return 1
    shutil.copytree(HERE / "vendor", html_dir / "vendor", dirs_exist_ok=True)
    for page in html_dir.glob("*.html"):
        page.write_text(localize(page.read_text()))
    left = [m.group(0) for page in html_dir.glob("*.html") for m in re.finditer(r'"https://[^"]+\.(?:js|css)"', page.read_text())]
    print(f"vendored {len(LOCAL)} files into {html_dir}/vendor" + (f"; still remote: {left}" if left else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "html"))
