"""gridbot's intent model against Rasa 3.6 DIET, on the same stratified folds.

    scripts/build_rasa.sh                      # once: Rasa in var/rasa-venv
    .venv/bin/python bench/nlu_vs_rasa.py [--folds 5] [--fold K] [--quick] [--epochs N]
                                          [--data nlu/data/nlu.yml] [--heldout FILE]
                                          [--json] [--save FILE] [--rasa-from FILE]

For every fold of ``--folds`` stratified folds (the split of :func:`nlu.evaluate.
stratified_folds`, seed 0, as ``gridbot nlu compare`` uses), or only fold ``--fold K`` of
them, or, with ``--heldout FILE``, once: trained on all of ``--data`` and scored on FILE:

* gridbot trains in this process and parses each held-out message one at a time (latency
  measured around ``IntentModel.parse``);
* Rasa, served by ``rasa run --enable-api`` from its own virtualenv on 127.0.0.1, trains
  through ``POST /model/train`` (the pipeline of ``scripts/rasa_config.yml``: JiebaTokenizer,
  CountVectorsFeaturizer on words and on char_wb 1-4 grams, DIETClassifier), loads the model
  with ``PUT /model`` and parses each held-out message through ``POST /model/parse``. This is
  gridbot's own Rasa backend (:mod:`nlu.backends.rasa`) at work.

The test predictions are pooled into one report per system. Then, for serving, each system
runs as a fresh process with the last model (gridbot: a small aiohttp server answering
``POST /model/parse`` the way Rasa does; Rasa: ``rasa run -m MODEL``). Every held-out message
of that fold is parsed over HTTP, and the process's resident memory is read from
``/proc/PID/status``. Optionally (on by default) Rasa's in-process parse time is measured by
loading the model with ``rasa.core.agent.Agent`` in its venv.

Training DIET takes minutes per epoch on a small machine. ``--save`` keeps a run's figures;
``--rasa-from`` measures gridbot again and takes Rasa's half from such a file, after checking
that it was made on the same data, folds, fold, held-out set, seed, epochs and pipeline.

gridbot parses with its compiled speedups unless its settings say ``GRIDBOT_NLU_PURE_PYTHON=1``
(the environment or ``.env``, read as ``gridbot`` reads them); the serving process is told
the same.

Everything listens on 127.0.0.1 only; every wait is bounded; the processes started here are
stopped at the end, on errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from nlu import speedups  # noqa: E402
from nlu.backends.rasa import RasaBackend  # noqa: E402
from nlu.evaluate import percentile, report, stratified_folds  # noqa: E402
from nlu.pipeline import IntentModel, ModelConfig, train  # noqa: E402
from nlu.rasa_yaml import Example, load_examples  # noqa: E402
from nlu.service import training_examples  # noqa: E402

DEFAULT_DATA = ROOT / "nlu" / "data" / "nlu.yml"
DEFAULT_VENV = ROOT / "var" / "rasa-venv"
RASA_CONFIG = ROOT / "scripts" / "rasa_config.yml"
START_TIMEOUT = 300.0
TRAIN_TIMEOUT = 7200.0

QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONWARNINGS": "ignore",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
}


def log(message: str) -> None:
    print(f"[nlu_vs_rasa {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)



def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    return {"n": len(seconds), "p50_ms": 1000 * percentile(seconds, 50),
            "p99_ms": 1000 * percentile(seconds, 99),
            "mean_ms": 1000 * statistics.fmean(seconds) if seconds else 0.0}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out.extend(int(c) for c in task.read_text().split())
    return out


def tree_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (MB) of a process and all its descendants, summed."""
    total = {"rss_mb": 0.0, "peak_mb": 0.0, "processes": 0}
    todo, seen = [pid], set()
    while todo and len(seen) < 256:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            text = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total["processes"] += 1
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key == "VmRSS":
                total["rss_mb"] += int(value.split()[0]) / 1024.0
            elif key == "VmHWM":
                total["peak_mb"] += int(value.split()[0]) / 1024.0
        todo.extend(_children(current))
    return total


@contextlib.contextmanager
def server_process(argv: list[str], cwd: Path, port: int, log_path: Path,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server in its own process group; wait until GET / answers; stop it afterwards."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **QUIET_ENV, **(env or {})},
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not listen on port {port} in time")
            time.sleep(0.5)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we started, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


async def http_parse(url: str, texts: Sequence[str]) -> tuple[list[dict[str, Any]], list[float]]:
    """POST every text to ``url`` one at a time; the answers and the round-trip times."""
    answers: list[dict[str, Any]] = []
    seconds: list[float] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for text in texts[:20]:  # warm-up: first requests build graphs and caches
            async with session.post(url, json={"text": text}) as resp:
                await resp.read()
        for text in texts:
            started = time.perf_counter()
            async with session.post(url, json={"text": text}) as resp:
                body = await resp.read()
            seconds.append(time.perf_counter() - started)
            answers.append(json.loads(body))
    return answers, seconds


# --- gridbot serving process (this file, run with --serve-gridbot) --------------------------


def serve_gridbot(model_path: Path, port: int) -> None:
    """A minimal serving process: the saved model behind ``POST /model/parse``."""
    from aiohttp import web

    model = IntentModel.load(model_path)
    model.parse("预热")

    async def parse(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(model.parse(body.get("text", "")))

    async def status(_: web.Request) -> web.Response:
        return web.json_response({"model_file": str(model_path), "version": model.version})

    app = web.Application()
    app.router.add_post("/model/parse", parse)
    app.router.add_get("/", status)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


# --- Rasa -------------------------------------------------------------------------------------


RASA_INPROCESS = r"""
import asyncio, json, logging, sys, time, warnings
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
from rasa.core.agent import Agent
model, texts_path = sys.argv[1], sys.argv[2]
texts = json.load(open(texts_path, encoding="utf-8"))
async def main():
    agent = Agent.load(model)
    for t in texts[:20]:
        await agent.parse_message(t)
    seconds = []
    for t in texts:
        started = time.perf_counter()
        await agent.parse_message(t)
        seconds.append(time.perf_counter() - started)
    print(json.dumps(seconds))
asyncio.run(main())
"""


def rasa_config(epochs: int | None) -> dict[str, Any]:
    config = yaml.safe_load(RASA_CONFIG.read_text(encoding="utf-8"))
    if epochs is not None:
        for component in config.get("pipeline", []):
            if component.get("name") == "DIETClassifier":
                component["epochs"] = epochs
    return config


def rasa_argv(venv: Path, port: int, model: Path | None = None) -> list[str]:
    argv = [str(venv / "bin" / "rasa"), "run", "--enable-api", "-i", "127.0.0.1",
            "-p", str(port)]
    if model is not None:
        argv += ["-m", str(model)]
    return argv


def rasa_serving(venv: Path, rasa_dir: Path, model: Path, texts: Sequence[str],
                 work: Path) -> dict[str, Any]:
    """A fresh ``rasa run -m MODEL``: parse ``texts`` over HTTP, then read its memory."""
    port = free_port()
    with server_process(rasa_argv(venv, port, model), rasa_dir, port,
                        work / "rasa-serve.log") as proc:
        deadline = time.monotonic() + START_TIMEOUT

        async def wait_loaded() -> None:
            async with aiohttp.ClientSession() as session:
                while time.monotonic() < deadline:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"http://127.0.0.1:{port}/status") as resp:
                            if resp.status == 200:
                                return
                    await asyncio.sleep(1)
            raise RuntimeError("Rasa did not load its model in time")

        asyncio.run(wait_loaded())
        _, seconds = asyncio.run(http_parse(f"http://127.0.0.1:{port}/model/parse", texts))
        return {"parse_http": latency_summary(seconds), "memory": tree_memory(proc.pid)}


def rasa_inprocess(venv: Path, rasa_dir: Path, model: Path, texts: Sequence[str],
                   work: Path) -> dict[str, Any]:
    """Rasa's parse time inside its own process (``Agent.parse_message``)."""
    texts_path = work / "texts.json"
    texts_path.write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", RASA_INPROCESS, str(model), str(texts_path)],
        capture_output=True, text=True, timeout=1800, check=False,
        env={**os.environ, **QUIET_ENV}, cwd=rasa_dir,
    )
    if proc.returncode != 0:
        return {"parse_inprocess_error": proc.stderr[-1000:]}
    return {"parse_inprocess": latency_summary(json.loads(proc.stdout.strip().splitlines()[-1]))}


# --- the benchmark ------------------------------------------------------------------------------


# One round: a name, the examples to train on and the examples to score.
Round = tuple[str, list[Example], list[Example]]


def rounds_of(args: argparse.Namespace, examples: list[Example]) -> tuple[list[Round], dict]:
    """The train/test rounds this run asks for, and what identifies them in the result."""
    if args.heldout is not None:
        heldout = load_examples(args.heldout)
        return [("held-out", list(examples), heldout)], {
            "heldout": str(args.heldout),
            "heldout_sha256": hashlib.sha256(Path(args.heldout).read_bytes()).hexdigest()[:12],
            "heldout_examples": len(heldout)}
    splits = stratified_folds([ex.intent for ex in examples], args.folds, seed=args.seed)
    chosen = range(1, len(splits) + 1) if args.fold is None else [args.fold]
    if args.fold is not None and not 1 <= args.fold <= len(splits):
        raise SystemExit(f"--fold must be between 1 and {len(splits)}")
    rounds = [(f"fold {k}", [examples[i] for i in splits[k - 1][0]],
               [examples[i] for i in splits[k - 1][1]]) for k in chosen]
    return rounds, {"fold": args.fold}


def run(args: argparse.Namespace) -> dict[str, Any]:
    examples = training_examples(args.data)
    rounds, identity = rounds_of(args, examples)
    labels = [ex.intent for _, _, test in rounds for ex in test]
    epochs = args.epochs if args.epochs is not None else (20 if args.quick else None)
    config = rasa_config(epochs)
    diet = next(c for c in config["pipeline"] if c.get("name") == "DIETClassifier")
    result: dict[str, Any] = {
        "data": str(args.data),
        "data_sha256": hashlib.sha256(Path(args.data).read_bytes()).hexdigest()[:12],
        "examples": len(examples), "folds": None if args.heldout else args.folds,
        **identity, "tested": len(labels),
        "seed": args.seed, "diet_epochs": diet.get("epochs"), "cpus": os.cpu_count(),
        "python": platform.python_version(), "rasa_pipeline": config["pipeline"],
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    work = Path(tempfile.mkdtemp(prefix="gridbot-nlu-vs-rasa-"))
    log(f"{len(examples)} examples, rounds: {', '.join(r[0] for r in rounds)}; "
        f"DIET epochs {diet.get('epochs')}; work dir {work}")

    # gridbot, in process
    grid_pred: list[str] = []
    grid_train: list[float] = []
    grid_lat: list[float] = []
    last_model: IntentModel | None = None
    for name, train_part, test_part in rounds:
        started = time.perf_counter()
        model = train(train_part, ModelConfig(seed=args.seed))
        grid_train.append(time.perf_counter() - started)
        for ex in test_part:
            started = time.perf_counter()
            grid_pred.append(model.parse(ex.text)["intent"]["name"])
            grid_lat.append(time.perf_counter() - started)
        last_model = model
        log(f"gridbot {name}: trained in {grid_train[-1]:.1f}s")
    assert last_model is not None
    grid_report = report(labels, grid_pred)
    result["gridbot"] = {
        "macro_f1": grid_report["macro avg"]["f1-score"], "accuracy": grid_report["accuracy"],
        "train_seconds": grid_train, "parse_inprocess": latency_summary(grid_lat),
        "report": grid_report,
        "speedups": "compiled" if speedups.active() is not None else "pure Python",
    }
    last_test = [ex.text for ex in rounds[-1][2]]
    model_path = work / "gridbot-model.pkl"
    last_model.save(model_path)
    port = free_port()
    serve = [sys.executable, str(Path(__file__).resolve()), "--serve-gridbot", str(model_path),
             "--port", str(port)] + (["--pure-python"] if speedups.active() is None else [])
    with server_process(serve, ROOT, port, work / "gridbot-server.log") as proc:
        _, seconds = asyncio.run(http_parse(f"http://127.0.0.1:{port}/model/parse", last_test))
        result["gridbot"]["parse_http"] = latency_summary(seconds)
        result["gridbot"]["memory"] = tree_memory(proc.pid)
    log("gridbot done")

    if args.skip_rasa or args.rasa_from is not None:
        shutil.rmtree(work, ignore_errors=True)
        if args.rasa_from is not None:
            reuse_rasa(args.rasa_from, result)
        return result
    if not (Path(args.rasa_venv) / "bin" / "rasa").exists():
        raise SystemExit(f"no Rasa at {args.rasa_venv}: run scripts/build_rasa.sh first "
                         "(or --skip-rasa)")

    try:
        rasa_leg(args, rounds, config, last_test, work, result)
    except Exception as exc:  # keep gridbot's figures and say what stopped Rasa
        result["rasa_error"] = f"{type(exc).__name__}: {exc}"
        log(f"Rasa failed: {result['rasa_error']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        result["work_dir"] = str(work)
    return result


def reuse_rasa(path: Path, result: dict[str, Any]) -> None:
    """Take the Rasa half of an earlier run, if it was made on the same data and folds."""
    try:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--rasa-from {path}: cannot read it ({exc})") from exc
    if not isinstance(saved, dict) or not isinstance(saved.get("rasa"), dict):
        raise SystemExit(f"--rasa-from {path}: no Rasa results in it")
    for key in ("data_sha256", "examples", "folds", "fold", "heldout_sha256", "seed",
                "diet_epochs", "rasa_pipeline"):
        if saved.get(key) != result.get(key):
            raise SystemExit(f"--rasa-from {path}: its {key} is {saved.get(key)!r}, this run's "
                             f"is {result.get(key)!r}; Rasa must be run on the same folds")
    when = saved.get("measured_at") or time.strftime(
        "%Y-%m-%d %H:%M:%S %Z", time.localtime(Path(path).stat().st_mtime))
    result["rasa"] = saved["rasa"]
    result["rasa_from"] = {"path": str(path), "measured_at": when}
    log(f"Rasa results taken from {path} (measured {when})")


def rasa_leg(args: argparse.Namespace, rounds: Sequence[Round], config: dict[str, Any],
             last_test: Sequence[str], work: Path, result: dict[str, Any]) -> None:
    """Rasa on the same rounds: trained and queried through its HTTP API."""
    labels = [ex.intent for _, _, test in rounds for ex in test]
    venv = Path(args.rasa_venv)
    rasa_pred: list[str] = []
    rasa_train: list[float] = []
    rasa_load: list[float] = []
    rasa_lat: list[float] = []
    rasa_dir = work / "rasa"
    rasa_dir.mkdir()
    port = free_port()
    model_file = None
    with server_process(rasa_argv(venv, port), rasa_dir, port, work / "rasa-train-server.log"):
        url = f"http://127.0.0.1:{port}"

        async def rasa_folds() -> str | None:
            backend = RasaBackend(url, config=config, timeout=60, train_timeout=TRAIN_TIMEOUT)
            model_file = None
            try:
                for name, train_part, test_part in rounds:
                    trained = await backend.atrain(train_part)
                    rasa_train.append(trained["train_seconds"])
                    rasa_load.append(trained["load_seconds"])
                    model_file = trained["model_file"]
                    texts = [ex.text for ex in test_part]
                    answers, seconds = await http_parse(f"{url}/model/parse", texts)
                    rasa_lat.extend(seconds)
                    for ex, raw in zip(test_part, answers, strict=True):
                        rasa_pred.append(backend.from_rasa(ex.text, raw)["intent"]["name"])
                    log(f"rasa {name}: trained in {trained['train_seconds']:.1f}s "
                        f"(+{trained['load_seconds']:.1f}s to load)")
            finally:
                await backend.aclose()
            return model_file

        model_file = asyncio.run(rasa_folds())
    rasa_report = report(labels, rasa_pred)
    result["rasa"] = {
        "macro_f1": rasa_report["macro avg"]["f1-score"], "accuracy": rasa_report["accuracy"],
        "train_seconds": rasa_train, "load_seconds": rasa_load,
        "parse_http_during_cv": latency_summary(rasa_lat), "report": rasa_report,
    }
    assert model_file is not None
    model_abs = rasa_dir / model_file
    try:
        result["rasa"].update(rasa_serving(venv, rasa_dir, model_abs, last_test, work))
    except (RuntimeError, OSError, aiohttp.ClientError) as exc:
        result["rasa"]["serving_error"] = f"{type(exc).__name__}: {exc}"
    log("rasa serving measured")
    if not args.no_rasa_inprocess:
        try:
            result["rasa"].update(rasa_inprocess(venv, rasa_dir, model_abs, last_test, work))
        except (subprocess.SubprocessError, OSError, ValueError) as exc:
            result["rasa"]["parse_inprocess_error"] = f"{type(exc).__name__}: {exc}"
        log("rasa in-process parse measured")


def table(result: dict[str, Any]) -> str:
    g, r = result["gridbot"], result.get("rasa")
    if result.get("heldout"):
        what = (f"trained on all {result['examples']} examples of {result['data']}, scored on "
                f"{result['heldout_examples']} of {result['heldout']}")
    else:
        which = (f"fold {result['fold']} of " if result.get("fold") else "")
        what = (f"{which}{result['folds']}-fold stratified cross-validation "
                f"(seed {result['seed']}) on {result['examples']} examples of {result['data']}")
    lines = [
        f"{what}; {result['cpus']} CPUs, Python {result['python']}",
        f"Rasa 3.6.21 pipeline: JiebaTokenizer, CountVectorsFeaturizer (words), "
        f"CountVectorsFeaturizer char_wb 1-4, DIETClassifier epochs {result['diet_epochs']}",
        "",
        f"{'':<34}{'gridbot':>12}{'Rasa DIET':>12}{'Rasa/gridbot':>14}",
    ]

    def row(label: str, gv: float | None, rv: float | None, fmt: str, ratio: bool = True,
            diff: bool = False) -> None:
        gs = format(gv, fmt) if gv is not None else "-"
        rs = format(rv, fmt) if rv is not None else "-"
        extra = ""
        if gv is not None and rv is not None:
            if diff:
                extra = f"{rv - gv:+.4f}"
            elif ratio and gv > 0:
                extra = f"{rv / gv:.1f}x"
        lines.append(f"{label:<34}{gs:>12}{rs:>12}{extra:>14}")

    def get(d: dict[str, Any] | None, *keys: str) -> float | None:
        for key in keys:
            if not isinstance(d, dict) or key not in d:
                return None
            d = d[key]
        return d if isinstance(d, int | float) else None  # type: ignore[return-value]

    row(f"macro-F1 ({result.get('tested', '')} tested)", g["macro_f1"], get(r, "macro_f1"),
        ".4f", diff=True)
    row("accuracy", g["accuracy"], get(r, "accuracy"), ".4f", diff=True)
    for intent, values in g["report"].items():
        if isinstance(values, dict) and "avg" not in intent:
            row(f"  recall {intent}", values["recall"], get(r, "report", intent, "recall"),
                ".4f", diff=True)
    row("training per fold, mean s", statistics.fmean(g["train_seconds"]),
        statistics.fmean(r["train_seconds"]) if r else None, ".2f")
    row("parse in-process p50 ms", get(g, "parse_inprocess", "p50_ms"),
        get(r, "parse_inprocess", "p50_ms"), ".3f")
    row("parse in-process p99 ms", get(g, "parse_inprocess", "p99_ms"),
        get(r, "parse_inprocess", "p99_ms"), ".3f")
    row("parse over HTTP p50 ms", get(g, "parse_http", "p50_ms"),
        get(r, "parse_http", "p50_ms"), ".3f")
    row("parse over HTTP p99 ms", get(g, "parse_http", "p99_ms"),
        get(r, "parse_http", "p99_ms"), ".3f")
    row("Rasa /model/parse p50 / gridbot", get(g, "parse_inprocess", "p50_ms"),
        get(r, "parse_http", "p50_ms"), ".3f")
    row("Rasa /model/parse p99 / gridbot", get(g, "parse_inprocess", "p99_ms"),
        get(r, "parse_http", "p99_ms"), ".3f")
    row("serving process RSS MB", get(g, "memory", "rss_mb"), get(r, "memory", "rss_mb"), ".0f")
    row("serving process peak RSS MB", get(g, "memory", "peak_mb"),
        get(r, "memory", "peak_mb"), ".0f")
    lines.append("")
    lines.append("The '/model/parse' rows set Rasa's HTTP latency against gridbot's in-process "
                 "latency (how gridbot parses when it serves).")
    if "rasa_from" in result:
        lines.append(f"Rasa's figures are from {result['rasa_from']['path']}, measured "
                     f"{result['rasa_from']['measured_at']} on the same data and folds.")
    if "rasa_error" in result:
        lines.append(f"Rasa failed: {result['rasa_error']}")
    elif r is None:
        lines.append("Rasa was not run (--skip-rasa).")
    for key in ("serving_error", "parse_inprocess_error"):
        if r and key in r:
            lines.append(f"Rasa {key.replace('_', ' ')}: {r[key][-300:]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/nlu_vs_rasa.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=None, help="default 5 (2 with --quick)")
    parser.add_argument("--fold", type=int, default=None, metavar="K",
                        help="run only fold K (1-based) of the --folds folds")
    parser.add_argument("--heldout", type=Path, default=None, metavar="FILE",
                        help="instead of folds: train on all of --data, score on FILE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 folds, DIET 20 epochs")
    parser.add_argument("--epochs", type=int, default=None, help="DIET epochs (default: config)")
    parser.add_argument("--rasa-venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--skip-rasa", action="store_true", help="measure gridbot only")
    parser.add_argument("--rasa-from", type=Path, default=None, metavar="JSON",
                        help="take Rasa's results from an earlier --save of the same data, "
                             "folds, seed and epochs instead of training Rasa again")
    parser.add_argument("--no-rasa-inprocess", action="store_true",
                        help="skip Rasa's in-process parse timing")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--serve-gridbot", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--pure-python", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_gridbot is not None:
        speedups.use_compiled(not args.pure_python)
        serve_gridbot(args.serve_gridbot, args.port)
        return 0
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        parser.error(str(exc))
    speedups.use_compiled(not settings.nlu_pure_python)
    if args.folds is None:
        args.folds = 2 if args.quick else 5
    result = run(args)
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
