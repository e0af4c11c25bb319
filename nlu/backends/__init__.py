"""Interchangeable intent classifiers behind one interface, chosen by configuration.

* ``default`` — gridbot's own TF-IDF + logistic regression model (fast, no downloads);
* ``embedding`` — a multilingual sentence encoder shipped in its wheel + logistic regression
  (optional extra: ``pip install -e '.[embedding]'``);
* ``rasa`` — a Rasa server's HTTP API, falling back to the default model when Rasa cannot
  answer.

Every backend's ``parse(text)`` answers in the shape of ``POST /api/v1/nlu/parse``: Rasa's
``/model/parse`` keys plus ``urgency``, ``tier`` and ``model``. Entities, urgency and tier
always come from gridbot's rule layer.

This package reads no environment variable: the backend and its options come only from
what the caller passes (gridbot passes its ``Settings``, which read ``GRIDBOT_NLU_BACKEND``,
``GRIDBOT_RASA_URL``, ``GRIDBOT_RASA_TOKEN`` and ``GRIDBOT_VAR_DIR`` from the environment
and ``.env``). Error messages name those variables, for the person who sets them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nlu.backends.base import BackendError
from nlu.rasa_yaml import Example

BACKENDS: tuple[str, ...] = ("default", "embedding", "rasa")
ENV_BACKEND = "GRIDBOT_NLU_BACKEND"
ENV_RASA_URL = "GRIDBOT_RASA_URL"
ENV_RASA_TOKEN = "GRIDBOT_RASA_TOKEN"


@runtime_checkable
class Backend(Protocol):
    """What the rest of gridbot needs from an intent classifier."""

    name: str

    @property
    def version(self) -> str:
        """An identifier of the model in use, also reported as ``model`` in every answer."""
        ...

    def parse(self, text: Any) -> dict[str, Any]:
        """The parse answer for ``text``; never raises for odd text (empty, huge, emoji)."""
        ...

    async def aparse(self, text: Any) -> dict[str, Any]:
        """:meth:`parse` for coroutines (does not block the event loop on network I/O)."""
        ...

    def train(self, examples: Sequence[Example]) -> dict[str, Any]:
        """Fit on ``examples`` and use the result from now on; returns figures about it."""
        ...

    def warm(self) -> Backend:
        """Load whatever the first parse would load; returns the backend itself."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


def _option(options: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = options.get(name)
        if value not in (None, ""):
            return value
    return None


def backend_from_config(
    name: str | None = None, options: Mapping[str, Any] | None = None
) -> Backend:
    """Build the backend called ``name`` (default: ``default``) from ``options`` alone.

    ``options``: ``model_dir`` (where the default and embedding models are kept; needed by
    ``embedding``; the default model uses :data:`nlu.service.DEFAULT_MODEL_DIR` without it),
    ``rasa_url`` (needed by ``rasa``), ``rasa_token``, ``rasa_timeout``,
    ``rasa_config`` (a mapping, YAML text or a Path), ``rasa_fallback`` (``False`` to answer
    errors with an exception instead of the default model), ``config`` (a
    :class:`nlu.pipeline.ModelConfig`), ``features`` (``both`` | ``words`` | ``chars``),
    ``embedding_C``, ``threshold``, and ``examples`` to train the embedding model on
    (default: the packaged data). Raises :class:`BackendError` for a bad configuration.
    """
    opts = dict(options or {})
    chosen = (name or "default").strip().lower() or "default"
    model_dir = opts.get("model_dir")
    model_dir = Path(model_dir) if model_dir is not None else None
    if chosen == "default":
        from nlu.backends.default import DefaultBackend

        return DefaultBackend(config=opts.get("config"), features=opts.get("features", "both"),
                              model_dir=model_dir)
    if chosen == "embedding":
        from nlu.backends import embedding

        if not embedding.available():
            raise BackendError(embedding.INSTALL_HINT)
        examples = opts.get("examples")
        if examples is None:
            from nlu.service import packaged_examples

            examples = packaged_examples()
        settings: dict[str, Any] = {}
        if opts.get("embedding_C") is not None:
            settings["C"] = float(opts["embedding_C"])
        if opts.get("threshold") is not None:
            settings["threshold"] = float(opts["threshold"])
        if model_dir is None:
            raise BackendError("the embedding backend needs a model directory (model_dir; "
                               "gridbot keeps it in GRIDBOT_VAR_DIR/models)")
        return embedding.load_or_train(model_dir, examples, **settings)
    if chosen == "rasa":
        from nlu.backends.default import DefaultBackend
        from nlu.backends.rasa import RasaBackend

        url = _option(opts, "rasa_url")
        if not url:
            raise BackendError(f"the rasa backend needs {ENV_RASA_URL} (e.g. http://127.0.0.1:5005)")
        fallback = None
        if opts.get("rasa_fallback", True) is not False:
            fallback = opts.get("rasa_fallback") if isinstance(
                opts.get("rasa_fallback"), Backend) else DefaultBackend(model_dir=model_dir)
        return RasaBackend(
            str(url),
            token=_option(opts, "rasa_token") or None,
            timeout=float(opts.get("rasa_timeout") or 10.0),
            config=opts.get("rasa_config"),
            fallback=fallback,
        )
    raise BackendError(
        f"unknown NLU backend {chosen!r}; {ENV_BACKEND} must be one of {', '.join(BACKENDS)}"
    )


def _lookup(settings_like: Any, attr: str, env: str | None = None) -> Any:
    """``attr`` of a Settings-like object; a mapping is read under ``attr`` or ``env`` (the
    variable's name). None when it is missing or empty: nothing else is consulted."""
    if isinstance(settings_like, Mapping):
        for key in (attr, env):
            if key is not None and settings_like.get(key) not in (None, ""):
                return settings_like[key]
        return None
    if settings_like is not None:
        value = getattr(settings_like, attr, None)
        if value not in (None, ""):
            return value
    return None


def _settings_options(settings_like: Any) -> tuple[str | None, dict[str, Any]]:
    """Backend name and options from a Settings-like object or a mapping."""
    options: dict[str, Any] = {}
    for attr, env in (("rasa_url", ENV_RASA_URL), ("rasa_token", ENV_RASA_TOKEN)):
        value = _lookup(settings_like, attr, env)
        if value:
            options[attr] = str(value)
    model_dir = _lookup(settings_like, "model_dir")
    if model_dir is None:
        var_dir = _lookup(settings_like, "var_dir")
        if var_dir is not None:
            model_dir = Path(var_dir) / "models"
    if model_dir is not None:
        options["model_dir"] = Path(model_dir)
    name = _lookup(settings_like, "nlu_backend", ENV_BACKEND)
    return (str(name) if name else None), options


def load_backend(settings_like: Any = None) -> Backend:
    """The backend the configuration asks for.

    ``settings_like`` is gridbot's ``Settings`` or any object with some of the attributes
    ``nlu_backend``, ``rasa_url``, ``rasa_token``, ``model_dir``, ``var_dir``; or a mapping
    with those keys (or ``GRIDBOT_NLU_BACKEND``, ``GRIDBOT_RASA_URL``,
    ``GRIDBOT_RASA_TOKEN``). It is the whole configuration: a missing backend name means
    ``default``, and the environment is never read. Models live in ``<var_dir>/models``
    (or ``model_dir``). Nothing heavy happens until :meth:`Backend.warm` or the first parse
    (except for ``embedding``, which loads or trains its classifier here).
    """
    name, options = _settings_options(settings_like)
    return backend_from_config(name or "default", options)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendError",
    "backend_from_config",
    "load_backend",
]
