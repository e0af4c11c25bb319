"""gridbot NLU speed and size: parse latency on one core, training time, serving memory.

    .venv/bin/python bench/nlu_speed.py [--data FILE] [--heldout FILE | --no-heldout]
                                        [--train-size 1000] [--rounds 3]
                                        [--backend default|embedding] [--json]

* Parse: every message of the data and of the held-out set (by default the packaged
  ``nlu/data/heldout.yml``: messages the model has not seen; parsed, never trained on), and a
  set of hostile inputs (empty, 10,000 characters, only emoji, mixed scripts, control
  characters), one at a time, ``--rounds`` times, by a model trained on the data, with this
  process pinned to one CPU (``os.sched_setaffinity``) and BLAS limited to one thread.
  Reports p50/p99/max per message.
* Training: a stratified sample of ``--train-size`` messages, trained from scratch.
* Memory: a fresh Python process that loads the saved model, parses every message once and
  reports its resident set (``VmRSS``) and peak (``VmHWM``) from ``/proc/self/status``.

Parsing uses the compiled speedups unless gridbot's settings say ``GRIDBOT_NLU_PURE_PYTHON=1``
(the environment or ``.env``, read as ``gridbot`` reads them); the memory child is told the
same.

Targets checked: parse p99 < 2 ms, training on 1,000 examples < 30 s, RSS < 300 MB.
Nothing here touches the network; the child process ends by itself.
"""

from __future__ import annotations

import os

# One thread for every numeric library, set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from nlu import speedups  # noqa: E402
from nlu.evaluate import percentile  # noqa: E402
from nlu.pipeline import train  # noqa: E402
from nlu.rasa_yaml import Example, load_examples  # noqa: E402
from nlu.service import packaged_heldout, training_examples  # noqa: E402

DEFAULT_DATA = ROOT / "nlu" / "data" / "nlu.yml"
TARGET_P99_MS = 2.0
TARGET_TRAIN_S = 30.0
TARGET_RSS_MB = 300.0

HOSTILE = {
    "empty": "",
    "blank": "   \n\t  ",
    "10000 chars": "楼道灯坏了，" * 1666 + "电梯",
    "only emoji": "😀😂👍🏻🙏❤️🔥" * 10,
    "wechat emoji codes": "[捂脸][捂脸][强][玫瑰]",
    "mixed scripts": "3号楼 elevator 坏了 Лифт сломан エレベーター 고장 🚧 ١٢٣",
    "control chars": "电梯\x00坏\x07了\u200b\u202e\ufeff\x1b[31m",
    "lone surrogate": "电梯\ud800坏了",
    "digits only": "1234567890" * 20,
}



def pin_one_core() -> str:
    """Pin this process to one CPU; returns a description."""
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return f"pinned to CPU {cpus[-1]} (of {len(cpus)})"
    return "not pinned (no sched_setaffinity)"


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM of a process in MB, from /proc."""
    out: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024.0
    return out


def sample(examples: list[Example], size: int, seed: int = 0) -> list[Example]:
    """A stratified sample of ``size`` examples (all of them when there are fewer)."""
    if size >= len(examples):
        return list(examples)
    from sklearn.model_selection import train_test_split

    chosen, _ = train_test_split(list(examples), train_size=size, random_state=seed,
                                 stratify=[ex.intent for ex in examples])
    return list(chosen)


def measure_parse(parse: Any, texts: list[str], rounds: int) -> dict[str, float]:
    """Wall-clock and CPU time of each parse (CPU time leaves out time spent preempted by
    other processes, so it stays meaningful on a busy machine)."""
    for text in texts[:50]:
        parse(text)
    wall: list[float] = []
    cpu: list[float] = []
    gc.collect()
    gc.freeze()
    for _ in range(rounds):
        for text in texts:
            c0 = time.thread_time()
            w0 = time.perf_counter()
            parse(text)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.thread_time() - c0)
    gc.unfreeze()
    return {
        "messages": len(wall),
        "p50_ms": 1000 * percentile(wall, 50),
        "p99_ms": 1000 * percentile(wall, 99),
        "max_ms": 1000 * max(wall, default=0.0),
        "mean_ms": 1000 * sum(wall) / max(len(wall), 1),
        "cpu_p50_ms": 1000 * percentile(cpu, 50),
        "cpu_p99_ms": 1000 * percentile(cpu, 99),
        "cpu_max_ms": 1000 * max(cpu, default=0.0),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0,
    }


def hostile_inputs(parse: Any) -> dict[str, Any]:
    """Parse every hostile input; the intent and time of each, or the exception it raised."""
    out: dict[str, Any] = {}
    for label, text in HOSTILE.items():
        started = time.perf_counter()
        try:
            result = parse(text)
            out[label] = {"intent": result["intent"]["name"],
                          "ms": round(1000 * (time.perf_counter() - started), 3)}
        except Exception as exc:  # the report shows which input broke what
            out[label] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
backend, model_path, data_path = sys.argv[2], sys.argv[3], sys.argv[4]
from nlu import speedups
speedups.use_compiled(sys.argv[5] == "compiled")
started = time.perf_counter()
if backend == "embedding":
    from nlu.backends.embedding import EmbeddingBackend
    model = EmbeddingBackend.load(model_path)
else:
    from nlu.pipeline import IntentModel
    model = IntentModel.load(model_path)
model.parse("预热")
load_s = time.perf_counter() - started
from nlu.rasa_yaml import load_examples
texts = [ex.text for ex in load_examples(data_path)]
for t in texts:
    model.parse(t)
status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    if key in ("VmRSS", "VmHWM"):
        status[key] = int(value.split()[0]) / 1024.0
print(json.dumps({"load_seconds": load_s, "parsed": len(texts), **status}))
"""


def serving_memory(backend: str, model_path: Path, data: Path) -> dict[str, Any]:
    """RSS of a fresh process that loaded the saved model and parsed every message."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), backend, str(model_path), str(data),
         "compiled" if speedups.active() is not None else "pure"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    examples = training_examples(data)
    heldout = None if args.no_heldout else (Path(args.heldout) if args.heldout
                                            else packaged_heldout())
    texts = [ex.text for ex in examples]
    if heldout is not None:
        texts += [ex.text for ex in load_examples(heldout)]
    result: dict[str, Any] = {"data": str(data), "examples": len(examples),
                              "heldout": str(heldout) if heldout else None,
                              "parsed_texts": len(texts),
                              "backend": args.backend, "python": sys.version.split()[0],
                              "speedups": "compiled" if speedups.active() is not None
                              else "pure Python"}

    subset = sample(examples, args.train_size)
    if args.backend == "embedding":
        from nlu.backends.embedding import EmbeddingBackend

        model: Any = EmbeddingBackend()
        started = time.perf_counter()
        model.train(subset)
        train_small = time.perf_counter() - started
        full: Any = EmbeddingBackend()
        started = time.perf_counter()
        full.train(examples)
        train_full = time.perf_counter() - started
    else:
        started = time.perf_counter()
        train(subset)
        train_small = time.perf_counter() - started
        started = time.perf_counter()
        full = train(examples)
        train_full = time.perf_counter() - started
    result["train"] = {"examples": len(subset), "seconds": train_small,
                       "full_examples": len(examples), "full_seconds": train_full}

    result["cpu"] = pin_one_core()
    result["parse"] = measure_parse(full.parse, texts, args.rounds)
    result["hostile"] = hostile_inputs(full.parse)

    with tempfile.TemporaryDirectory(prefix="gridbot-nlu-speed-") as tmp:
        path = Path(tmp) / "model.pkl"
        full.save(path)
        result["memory"] = serving_memory(args.backend, path, data)

    rss = result["memory"].get("VmRSS")
    result["targets"] = {
        "parse_p99_under_2ms": result["parse"]["p99_ms"] < TARGET_P99_MS,
        "parse_cpu_p99_under_2ms": result["parse"]["cpu_p99_ms"] < TARGET_P99_MS,
        "train_1000_under_30s": train_small < TARGET_TRAIN_S,
        "rss_under_300mb": rss is not None and rss < TARGET_RSS_MB,
        "hostile_inputs_answered": all("error" not in v for v in result["hostile"].values()),
    }
    return result


def show(result: dict[str, Any]) -> None:
    p, t, m = result["parse"], result["train"], result["memory"]
    print(f"gridbot NLU ({result['backend']}, {result['speedups']}) trained on "
          f"{result['examples']} examples from {result['data']}, Python {result['python']}")
    print(f"parsing {result['parsed_texts']} messages: the training data"
          + (f" and {result['heldout']}" if result["heldout"] else ""))
    print(f"parse, {result['cpu']}: {p['messages']} parses, load average "
          f"{p['load_average']:.2f}")
    print(f"  wall clock: p50 {p['p50_ms']:.3f} ms, p99 {p['p99_ms']:.3f} ms, "
          f"max {p['max_ms']:.3f} ms, mean {p['mean_ms']:.3f} ms")
    print(f"  CPU time:   p50 {p['cpu_p50_ms']:.3f} ms, p99 {p['cpu_p99_ms']:.3f} ms, "
          f"max {p['cpu_max_ms']:.3f} ms")
    print(f"training: {t['examples']} examples in {t['seconds']:.2f} s; "
          f"all {t['full_examples']} in {t['full_seconds']:.2f} s")
    if "error" in m:
        print(f"memory: the child process failed: {m['error']}")
    else:
        print(f"memory of a process that loaded the model and parsed {m['parsed']} messages: "
              f"RSS {m['VmRSS']:.0f} MB, peak {m['VmHWM']:.0f} MB "
              f"(load {m['load_seconds']:.2f} s)")
    print("hostile inputs:")
    for label, row in result["hostile"].items():
        detail = row.get("error") or f"{row['intent']} in {row['ms']:.3f} ms"
        print(f"  {label:<20} {detail}")
    print("targets:")
    for name, ok in result["targets"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/nlu_speed.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="Rasa nlu.yml or JSON Lines")
    parser.add_argument("--heldout", default=None,
                        help="more messages to parse (default: the packaged held-out set)")
    parser.add_argument("--no-heldout", action="store_true",
                        help="parse only the training data's messages")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="parses of every message")
    parser.add_argument("--backend", choices=("default", "embedding"), default="default")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        parser.error(str(exc))
    speedups.use_compiled(not settings.nlu_pure_python)
    result = run(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        show(result)
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
