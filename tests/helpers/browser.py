"""Drive Debian's headless Chromium over the DevTools protocol, with all networking off.

Enough of the protocol for the deliverable tests: open a ``file://`` page offline, collect
console messages, exceptions and failed loads, evaluate JavaScript, take a screenshot.
Chromium runs as root with ``--no-sandbox`` and a fresh profile; host names resolve to nothing
(``--host-resolver-rules``) and the page is put offline (``Network.emulateNetworkConditions``),
so nothing leaves the machine. The DevTools port listens on 127.0.0.1 only.

>>> with Chromium() as browser:                      # doctest: +SKIP
...     page = browser.open(Path("maps/andorra/index.html"))
...     page.evaluate("typeof L")
'object'
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Chromium", "Page", "find_chromium"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
)


def find_chromium() -> str | None:
    """The path of Debian's chromium (or another Chromium/Chrome on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Page:
    """One tab: send DevTools commands, keep the events that say something went wrong."""

    ws: object
    next_id: int = 1
    console: list[dict] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    requests: dict[str, str] = field(default_factory=dict)
    loaded: bool = False

    def send(self, method: str, timeout_s: float = 60.0, **params) -> dict:
        call_id = self.next_id
        self.next_id += 1
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)
        raise TimeoutError(f"{method}: no answer in {timeout_s} s")

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append({"level": params["type"], "text": text})
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif method == "Log.entryAdded":
            entry = params["entry"]
            self.console.append(
                {"level": entry["level"], "text": entry.get("text", ""), "url": entry.get("url")}
            )
        elif method == "Network.requestWillBeSent":
            self.requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            url = self.requests.get(params["requestId"], "")
            self.failed.append({"url": url, "error": params.get("errorText")})
        elif method == "Page.loadEventFired":
            self.loaded = True

    def pump(self, seconds: float) -> None:
        """Collect events for `seconds` (tiles failing, late script errors)."""
        deadline = time.monotonic() + seconds
        self.ws.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    self._event(json.loads(self.ws.recv()))
                except Exception as exc:  # websocket timeout: nothing arrived in 0.2 s
                    if type(exc).__name__ != "WebSocketTimeoutException":
                        raise
        finally:
            self.ws.settimeout(60)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.ws.close()

    def errors(self, allow_failed_hosts: tuple[str, ...] = ()) -> list[str]:
        """Exceptions, console errors and failed loads, except loads from `allow_failed_hosts`."""

        def allowed(url: str | None) -> bool:
            return bool(url) and any(host in url for host in allow_failed_hosts)

        out = [f"exception: {e}" for e in self.exceptions]
        out += [
            f"console {m['level']}: {m['text']}"
            for m in self.console
            if m["level"] == "error" and not allowed(m.get("url"))
        ]
        out += [
            f"failed load: {f['url']} ({f['error']})" for f in self.failed if not allowed(f["url"])
        ]
        return out


class Chromium:
    """A headless Chromium process with a fresh profile, ended on exit."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 860):
        self.executable = executable or find_chromium()
        if not self.executable:
            raise FileNotFoundError("chromium not found; install Debian's `chromium` package")
        self.size = (width, height)

    def __enter__(self) -> Chromium:
        self._profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self._pages: list[Page] = []
        self.process = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError(f"{self.executable} did not start its DevTools endpoint")
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        return self

    def open(self, path: Path, settle_s: float = 1.5) -> Page:
        """Open `path` as file:// in a new offline tab; return once loaded and settled."""
        import websocket  # websocket-client, from the `test` extra

        endpoint = f"http://127.0.0.1:{self.port}/json/new?about:blank"
        request = urllib.request.Request(endpoint, method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
            target = json.loads(response.read())
        ws = websocket.create_connection(
            target["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        page = Page(ws)
        self._pages.append(page)
        for domain in ("Runtime", "Log", "Page", "Network"):
            page.send(f"{domain}.enable")
        page.send(
            "Network.emulateNetworkConditions",
            offline=True,
            latency=0,
            downloadThroughput=-1,
            uploadThroughput=-1,
        )
        width, height = self.size
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.send("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + 60
        while not page.loaded and time.monotonic() < deadline:
            page.pump(0.2)
        page.pump(settle_s)
        return page

    def __exit__(self, *exc) -> None:
        for page in getattr(self, "_pages", []):
            page.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # Chromium's helper processes may still write into the profile for a moment after the
        # browser process has ended ("Directory not empty" seen once): try again before giving up.
        for _ in range(40):
            try:
                shutil.rmtree(self._profile)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.25)
        shutil.rmtree(self._profile)
