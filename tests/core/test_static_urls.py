"""Static files' addresses carry a version (the start of the file's hash), so that nginx can
let browsers keep them for a year (deploy/nginx/tracker.conf) and a changed file is fetched
anew."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import url_for

from tracker.web.staticfiles import file_version


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_static_urls_carry_the_files_hash(app, client):
    folder = Path(app.static_folder)
    with app.test_request_context():
        assert url_for("static", filename="site.css") == f"/static/site.css?v={_digest(folder / 'site.css')}"
        assert url_for("static", filename="live.js").endswith(f"?v={_digest(folder / 'live.js')}")
        # no such file (or a way out of the folder): the plain address, nothing read
        assert url_for("static", filename="missing.css") == "/static/missing.css"
        assert "v=" not in url_for("static", filename="../pyproject.toml")
    page = client.get("/")
    links = re.findall(r'href="(/static/[^"]+)"', page.text)
    assert links and all(re.search(r"\?v=[0-9a-f]{12}$", link) for link in links), links
    response = client.get(links[0])
    with response:  # (closes the file the static view opened)
        assert response.status_code == 200


def test_a_changed_file_gets_a_new_version(tmp_path):
    css = tmp_path / "a.css"
    css.write_text("body { color: black }")
    first = file_version(str(tmp_path), "a.css")
    assert first == _digest(css)
    css.write_text("body { color: navy; }")  # another size: a new version at once
    assert file_version(str(tmp_path), "a.css") == _digest(css) != first
    assert file_version(str(tmp_path), "nothing.css") is None
