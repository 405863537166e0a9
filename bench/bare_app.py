"""The baseline: a bare Flask endpoint, served by the same gunicorn settings as the app."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "ok"
