"""The explorer's front end (chapter 5): core ipywidgets only, so it runs in Jupyter and Colab.

:class:`Explorer` is :class:`~backpropvis.explorer.model.ExplorerModel` with controls, four image
panels (input, one or two maps, the limit) and an HTML table of correlations. :meth:`Explorer.set`
moves the controls headless, as a reader would. ipywidgets is imported when the widget is first
built, so the headless explorer does not need it.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from PIL import Image

from ...core.checks import as_int
from ...core.images import SAMPLE_PHOTOS
from ...core.metrics import normalize_map
from ...core.rules import RULES
from .model import EXPLORER_NETWORKS, ExploreResult, ExplorerModel, ExploreSettings


def _upload_bytes(value: Any) -> tuple[str, bytes] | None:
    """``(name, content)`` of a ``FileUpload`` value (ipywidgets 8 tuple, 7 dict), or None."""
    files = list(value.values()) if isinstance(value, dict) else list(value or ())
    if not files:
        return None
    name = files[-1].get("name") or files[-1].get("metadata", {}).get("name") or "upload"
    return str(name), bytes(files[-1]["content"])


def _show_png(image: Any, png: bytes) -> None:
    """Put PNG bytes in an ``ipywidgets.Image``; an empty panel is hidden, since a browser draws
    an image without data as a broken-image icon (seen in JupyterLab)."""
    image.value = png
    image.layout.visibility = "visible" if png else "hidden"


def _png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` or ``(H, W)`` array in [0, 1]."""
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(buf, "png")
    return buf.getvalue()


class Explorer(ExplorerModel):
    """Chapter 5's playground: :meth:`explore` (settings -> result, cached) and its widgets.

    :meth:`widget` builds the ipywidgets front end, :meth:`set` moves its controls headless;
    ``last`` is the last result shown. Arguments as :class:`ExplorerModel`.
    """

    SIZES = (32, 64, 96, 128, 160, 224)
    LOGITS = ("max", "random", "482", "tabby", "tiger cat", "cassette player", "goldfish")

    def __init__(
        self, defaults: ExploreSettings | None = None, device: Any = None, light_threads: int = 1
    ) -> None:
        super().__init__(defaults, device, light_threads)
        self.ui, self.last = None, None
        self._hold, self._upload = False, None

    def widget(self) -> Any:
        """Build (once) and return the ipywidgets front end; every change calls :meth:`update`."""
        import ipywidgets as W  # needed by the widget only (module docstring)

        if self.ui is not None:
            return self.ui
        d, wide, lazy = (
            self.defaults,
            {"description_width": "initial"},
            {"continuous_update": False},
        )
        self._photos = [*SAMPLE_PHOTOS] + ([d.photo] if d.photo not in SAMPLE_PHOTOS else [])
        nets = [(label, key) for key, label in EXPLORER_NETWORKS.items()]
        self.controls = {
            "photo": W.Dropdown(options=self._photos, value=d.photo, description="photo"),
            "upload": W.FileUpload(accept="image/*", multiple=False, description="your photo"),
            "network": W.Dropdown(options=nets, value=d.network, description="network"),
            "rule": W.ToggleButtons(options=list(RULES), value=d.rule, description="rule"),
            "n": W.IntText(value=d.n, description="N or N_h", style=wide, **lazy),
            "kernel_size": W.IntSlider(value=d.kernel_size, min=1, max=15, description="k", **lazy),
            "padding": W.ToggleButtons(
                options=["valid", "same"], value=d.padding, description="padding"
            ),
            "logit": W.Combobox(value=str(d.logit), options=self.LOGITS, description="logit"),
            "logit2": W.Combobox(
                value=str(d.logit2 or ""),
                options=self.LOGITS,
                description="second logit",
                placeholder="none",
                style=wide,
                **lazy,
            ),
            "seed": W.BoundedIntText(value=d.seed, min=0, max=2**31 - 1, description="seed"),
            "size": W.SelectionSlider(
                options=sorted({*self.SIZES, d.size}), value=d.size, description="size", **lazy
            ),
        }
        self.controls["logit"].continuous_update = False
        self.panels = [(W.HTML(), W.Image(format="png", width=200, height=200)) for _ in range(4)]
        self.status, self.numbers = W.HTML(), W.HTML()
        for key, w in self.controls.items():
            w.observe(self._on_upload if key == "upload" else self.update, names="value")
        c = self.controls
        self.ui = W.VBox([
            W.HBox([
                W.VBox([c[k] for k in ("photo", "upload", "network", "rule", "padding")]),
                W.VBox([c[k] for k in ("n", "kernel_size", "logit", "logit2", "seed", "size")]),
            ]),
            self.status,
            W.HBox([W.VBox(list(p)) for p in self.panels]),
            self.numbers,
        ])  # fmt: skip
        self.update()
        return self.ui

    @contextmanager
    def _holding(self) -> Iterator[None]:
        self._hold, old = True, self._hold
        try:
            yield
        finally:
            self._hold = old

    def _on_upload(self, change: Any) -> None:
        got = _upload_bytes(change["new"])
        if got is not None:
            self._upload, label = got, f"upload: {got[0]}"
            with self._holding():
                self.controls["photo"].options = [*self._photos, label]
                self.controls["photo"].value = label
            self.update()

    def settings(self) -> ExploreSettings:
        """The settings the controls show."""
        c = {k: w.value for k, w in self.controls.items() if k != "upload"}
        photo, name = c.pop("photo"), "upload"
        if photo.startswith("upload: ") and self._upload is not None:
            name, photo = self._upload
        logit2 = c.pop("logit2").strip()
        return ExploreSettings(photo=photo, upload_name=name, logit2=logit2 or None, **c)

    def set(self, **values: Any) -> ExploreResult | None:
        """Set controls by name, as a reader would, then update once; returns the result.

        A value the control cannot take (outside a slider's range, not among its options, the
        wrong type) raises ``ValueError`` naming the control and what it allows, before any
        control moves: nothing is clamped silently.
        """
        self.widget()
        unknown = [k for k in values if k not in self.controls or k == "upload"]
        if unknown:
            names = ", ".join(k for k in self.controls if k != "upload")
            raise ValueError(f"unknown control(s) {', '.join(unknown)}; the controls are {names}")
        checked = {key: self._control_value(key, value) for key, value in values.items()}
        with self._holding():
            for key, value in checked.items():
                self.controls[key].value = value
        return self.update()

    def _control_value(self, key: str, value: Any) -> Any:
        """``value`` as control ``key`` takes it, or a ``ValueError`` naming the control."""
        w = self.controls[key]
        if hasattr(w, "min") and hasattr(w, "max"):  # sliders and bounded numbers
            v = as_int(value)
            if v is None or not w.min <= v <= w.max:
                raise ValueError(
                    f"{key}: {value!r} is not allowed; the {w.description!r} control takes "
                    f"integers {w.min}..{w.max}"
                )
            return v
        if key == "n":
            v = as_int(value)
            if v is None:
                raise ValueError(
                    f"n: {value!r} is not allowed; the 'N or N_h' control takes an int"
                )
            return v
        if key in ("logit", "logit2"):
            if value is None:
                return ""
            if as_int(value) is not None:
                return str(as_int(value))
            if not isinstance(value, str):
                raise ValueError(
                    f"{key}: {value!r} is not allowed; type max, random, an index or a class name"
                )
            return value
        options = getattr(w, "_options_values", None)
        if options is not None:
            v = as_int(value) if as_int(value) is not None else value
            if v not in options:
                shown = ", ".join(repr(o) for o in options)
                raise ValueError(f"{key}: {value!r} is not allowed; use one of {shown}")
            return v
        return value

    def update(self, *_: Any) -> ExploreResult | None:
        """Recompute for the controls and show the result; never raises (errors are shown)."""
        if self._hold or self.ui is None:
            return None

        def say(message: str) -> None:
            self.status.value = f"<b>computing...</b> {html.escape(message)}"

        try:
            s = self.settings()
            say(f"slower setting: {self.slow_reason(s)}" if self.slow_reason(s) else "")
            result = self.explore(s, progress=say)
        except Exception as exc:  # noqa: BLE001 - the widget shows any failure
            result = ExploreResult(None, error=f"{type(exc).__name__}: {exc}")
        self.render(result)
        self.last = result
        return result

    def render(self, r: ExploreResult) -> None:
        """Show a result in the widgets: images, numbers and status (or the error)."""
        if r.error is not None:
            self.status.value = f'<b style="color:#b00020">error:</b> {html.escape(r.error)}'
            for caption, image in self.panels:
                caption.value = ""
                _show_png(image, b"")
            self.numbers.value = ""
            return
        s, blank = r.settings, (None, "")
        maps = [(m, f"{s.rule}, logit {lab}") for m, lab in zip(r.maps, r.labels, strict=True)]
        limit = "limit, Eq. (5)" if s.network == "convnet" else "limit, x / ||x||"
        shown = [(r.image, "input"), *maps, *[blank] * (2 - len(maps))]
        shown.append((r.limit, f"GBP {limit}") if r.limit is not None else blank)
        for (caption, image), (a, text) in zip(self.panels, shown, strict=True):
            caption.value = html.escape(text)
            if a is None:
                _show_png(image, b"")
            elif a is r.image:
                _show_png(image, _png(a.permute(1, 2, 0).numpy()))
            else:
                _show_png(image, _png(normalize_map(a).transpose(1, 2, 0)))

        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        lims = r.rho_limit or [None] * len(r.labels)
        rows = "".join(
            f"<tr><td>{html.escape(lab)}</td><td>{fmt(a)}</td><td>{fmt(b)}</td></tr>"
            for lab, a, b in zip(r.labels, lims, r.rho_input, strict=True)
        )
        pair = "" if r.rho_logits is None else f"; between the two maps {r.rho_logits:.3f}"
        self.numbers.value = (  # cell padding: JupyterLab's table style sets none
            '<table style="border-spacing: 1.5em 0"><tr><th>logit</th>'
            "<th>Pearson with limit</th><th>with input</th></tr>"
            f"{rows}</table>Pearson correlation{pair}."
        )
        slow = f" (slower setting: {html.escape(r.slow)})" if r.slow else ""
        notes = "".join(f"<br>note: {html.escape(n)}" for n in r.notes)
        self.status.value = f"{html.escape(r.model)}: {r.seconds:.2f} s{slow}{notes}"
