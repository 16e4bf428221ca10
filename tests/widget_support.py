"""Helpers for the widget's browser tests: a host website on another origin, and the strict CSP it sends."""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: A stylesheet of the host page that tries to reach into the widget: Shadow DOM keeps it out.
HOSTILE_HOST_CSS = """
article, button, form, section, textarea { display: none !important; }
* { font-size: 3px !important; color: red !important; }
main { max-width: 640px; margin: 0 auto; }
"""


def strict_csp(api_url: str) -> str:
    """Return the strict CSP of a host page that embeds the widget from *api_url* (the README documents it)."""
    return (f"default-src 'none'; script-src {api_url}; connect-src {api_url}; style-src 'self'; "
            "img-src 'self'; base-uri 'none'; object-src 'none'; form-action 'none'; frame-ancestors 'none'")


def host_page(api_url: str, thread: str = "blog/hello", lang: str | None = None, after: str = "") -> str:
    """Return a host page embedding *thread* with the README's snippet; *after* is HTML put below the widget."""
    lang_attr = f' data-parley-lang="{html.escape(lang)}"' if lang else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host blog</title>
<link rel="stylesheet" href="/host.css"></head>
<body><main><h1>A host blog post</h1><p id="before">Text of the post.</p>
<div id="widget" data-parley-thread="{html.escape(thread)}"{lang_attr}></div>
<p id="after">Footer of the host page.</p>{after}</main>
<script src="{api_url}/embed.js" async></script>
</body></html>"""


class HostSite:
    """A tiny website on ``localhost`` (a different origin from the API on 127.0.0.1) serving host pages."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://localhost:{port}"
        #: path → (HTML, CSP header or None); tests set them before navigating.
        self.pages: dict[str, tuple[str, str | None]] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?")[0]
                if path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                elif path == "/host.css":
                    self.answer(HOSTILE_HOST_CSS, "text/css", None)
                elif path in site.pages:
                    body, csp = site.pages[path]
                    self.answer(body, "text/html; charset=utf-8", csp)
                else:
                    self.send_error(404)

            def answer(self, body: str, content_type: str, csp: str | None) -> None:
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                if csp:
                    self.send_header("Content-Security-Policy", csp)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass  # quiet test output

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="host-site", daemon=True)

    def page(self, path: str, body: str, csp: str | None = None) -> str:
        """Serve *body* at *path* (with a CSP header when given); return its URL."""
        self.pages[path] = (body, csp)
        return self.origin + path

    def __enter__(self) -> HostSite:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
