"""Overhead of ``dropout_guard.inference_guard`` on models already in eval mode.

Three models, all in eval mode, run under ``torch.inference_mode()``:

* ``bert``: a BERT-like encoder from plain torch.nn (6 layers, hidden 256, 4 heads, an
  ``nn.Dropout`` in every sub-block, custom ``forward`` code);
* ``torch-encoder``: ``nn.TransformerEncoder`` (6 ``nn.TransformerEncoderLayer``,
  ``batch_first=True``) behind an embedding, which runs on torch's fused fast path in eval;
* ``mlp``: a small MLP (``nn.Sequential`` of Linear / ReLU / Dropout / BatchNorm1d).

Inputs: batch 8 x seq 128 and a batch-1 tiny input (seq 8; 1 row for the MLP).
Guard settings: default (``functional=True``, i.e. automatic), ``functional=False`` and
``functional="always"`` (mode forced). Two ways of guarding are timed:

* ``region``: one ``with inference_guard(model):`` around many calls (steady state);
* ``per-call``: enter and exit the guard around every single call (decorator style).

Timing is paired and interleaved: each repeat times a block of unguarded calls and a block
of guarded calls back to back (order alternating), on process CPU time by default (robust
to other load on a shared machine; ``--clock wall`` for perf_counter), and the figure is the
median over repeats of guarded / unguarded, with the median extra microseconds per call.
For the batch-8 input only the stricter per-call style is timed (the styles differ by one
enter/exit, ~0.05 ms on ~100 ms). A second table times one enter + exit alone (no model
call, so no measurement noise from the model): the per-call cost without the root hook's
share. Run: ``python benchmarks/guard_overhead.py [--threads N] [--quick]`` (about 50 s on
2 cores). This is a measurement, not a test: nothing asserts on time; it does assert that
no hook or mode is left behind.

``--device cuda`` runs the same models and inputs on the GPU (models and inputs moved
there), plus a larger input that only makes sense there (``large``: batch 64 x seq 512 for
the encoders, 4096 rows for the MLP). On CUDA the clock is always wall time
(``perf_counter``; process CPU time does not see GPU work) and every timed block starts and
ends with ``torch.cuda.synchronize()``, so a block's time includes the GPU work its calls
queued; each input is warmed up first (cuBLAS / allocator initialisation excluded) and
blocks are longer (~50 ms instead of ~20 ms). Per-call guard overhead is CPU work: on
launch-bound inputs (tiny) it adds to the call, on GPU-bound ones it overlaps with queued
kernels. ``python benchmarks/guard_overhead.py --device cuda --quick`` should take about
1 min on one H100, about 2 min without ``--quick`` (estimated from the counts: 42 timed
rows of 7-12 (quick) or 15-25 pairs of ~50 ms blocks, plus set-up). ``--models`` /
``--sizes`` pick a subset (e.g. ``--models mlp --sizes tiny``); ``large`` can be asked for
on CPU too (slow for the encoders there: minutes).
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from dropout_guard import inference_guard  # noqa: E402


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attn_dropout = nn.Dropout(p)
        self.out = nn.Linear(hidden, hidden)
        self.out_dropout = nn.Dropout(p)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(h // self.heads)
        probs = self.attn_dropout(scores.softmax(dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(b, t, h)
        return self.norm(x + self.out_dropout(self.out(ctx)))


class FeedForward(nn.Module):
    def __init__(self, hidden: int, p: float) -> None:
        super().__init__()
        self.up = nn.Linear(hidden, 4 * hidden)
        self.act = nn.GELU()
        self.down = nn.Linear(4 * hidden, hidden)
        self.dropout = nn.Dropout(p)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(self.down(self.act(self.up(x)))))


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, p: float) -> None:
        super().__init__()
        self.attention = SelfAttention(hidden, heads, p)
        self.ffn = FeedForward(hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attention(x))


class BertLike(nn.Module):
    def __init__(self, vocab: int = 1000, hidden: int = 256, heads: int = 4, layers: int = 6,
                 p: float = 0.1, max_len: int = 512) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.pos = nn.Embedding(max_len, hidden)
        self.embed_dropout = nn.Dropout(p)
        self.layers = nn.ModuleList([Layer(hidden, heads, p) for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.embed_dropout(self.embed(ids) + self.pos(pos))
        for layer in self.layers:
            x = layer(x)
        return self.pooler(x[:, 0]).tanh()


class TorchEncoder(nn.Module):
    def __init__(self, vocab: int = 1000, hidden: int = 256, heads: int = 4,
                 layers: int = 6, p: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, p, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embed(ids))


def make_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 10),
    )


_CLOCK = time.process_time


def _no_sync() -> None:
    pass


#: Called before and after every timed block: torch.cuda.synchronize on CUDA (a block's time
#: then covers the GPU work its calls queued), a no-op on CPU.
_SYNC = _no_sync


def _time_block(fn, n: int) -> float:
    _SYNC()
    start = _CLOCK()
    for _ in range(n):
        fn()
    _SYNC()
    return (_CLOCK() - start) / n


def measure(model: nn.Module, x: torch.Tensor, guard_kwargs: dict, style: str,
            repeats: int, inner: int) -> tuple:
    """Median guarded/unguarded ratio over ``repeats`` paired, interleaved blocks."""
    guard = inference_guard(model, **guard_kwargs)

    def plain():
        model(x)

    def per_call():
        with guard:
            model(x)

    def region_block(n: int) -> float:
        with guard:
            return _time_block(plain, n)

    for _ in range(2):  # warm-up
        plain()
        per_call()
    ratios, base_times, extra = [], [], []
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        t = [0.0, 0.0]
        for which in order:
            if which == 0:
                t[0] = _time_block(plain, inner)
            elif style == "region":
                t[1] = region_block(inner)
            else:
                t[1] = _time_block(per_call, inner)
        ratios.append(t[1] / t[0])
        base_times.append(t[0])
        extra.append(t[1] - t[0])
    return statistics.median(ratios), statistics.median(base_times), statistics.median(extra)


def measure_enter_exit(model: nn.Module, guard_kwargs: dict, repeats: int) -> float:
    """Median seconds of one ``with guard: pass`` (the guard reused, as a decorator is)."""
    guard = inference_guard(model, **guard_kwargs)

    def enter_exit():
        with guard:
            pass

    def nothing():
        pass

    n = 2000
    _time_block(enter_exit, n)  # warm-up (the first entry walks the model)
    extra = []
    for _ in range(repeats):
        extra.append(_time_block(enter_exit, n) - _time_block(nothing, n))
    return statistics.median(extra)


SIZES = ("tiny", "8x128", "large")


def make_inputs(device: torch.device) -> dict:
    """{(model, size): (label, input)}; created on the CPU (same values on every device)."""
    gen = torch.Generator().manual_seed(1)

    def ids(*shape):
        return torch.randint(0, 1000, shape, generator=gen).to(device)

    def rows(n):
        return torch.randn(n, 64, generator=gen).to(device)

    return {
        ("bert", "8x128"): ("8x128", ids(8, 128)),
        ("bert", "tiny"): ("tiny", ids(1, 8)),
        ("bert", "large"): ("64x512", ids(64, 512)),
        ("torch-encoder", "8x128"): ("8x128", ids(8, 128)),
        ("torch-encoder", "tiny"): ("tiny", ids(1, 8)),
        ("torch-encoder", "large"): ("64x512", ids(64, 512)),
        ("mlp", "8x128"): ("8x128", rows(8 * 128)),
        ("mlp", "tiny"): ("tiny", rows(1)),
        ("mlp", "large"): ("4096", rows(4096)),
    }


def _csv(choices):
    def parse(text: str) -> tuple:
        items = tuple(item.strip() for item in text.split(",") if item.strip())
        bad = [item for item in items if item not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated subset of {','.join(choices)}, got {text!r}")
        return items
    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where models and inputs live (default cpu); cuda forces "
                        "--clock wall and synchronizes before and after every timed block")
    parser.add_argument("--clock", choices=("cpu", "wall"), default=None,
                        help="cpu: process CPU time (default on cpu; robust to other processes "
                        "on a shared machine), wall: perf_counter (always on cuda)")
    parser.add_argument("--models", type=_csv(("bert", "torch-encoder", "mlp")),
                        default=("bert", "torch-encoder", "mlp"),
                        help="comma-separated subset of bert,torch-encoder,mlp (default all)")
    parser.add_argument("--sizes", type=_csv(SIZES), default=None,
                        help="comma-separated subset of tiny,8x128,large (default: tiny,8x128 "
                        "on cpu, all three on cuda; large = 64x512 for the encoders, 4096 rows "
                        "for the MLP)")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.exit(2, f"--device cuda: torch {torch.__version__} (CUDA build: "
                    f"{torch.version.cuda}) sees no CUDA device\n")
    clock_note = ""
    if cuda:
        ignored = "; --clock cpu ignored" if args.clock == "cpu" else ""
        args.clock = "wall"
        clock_note = ("wall, forced on cuda (process CPU time does not see GPU work; "
                      f"torch.cuda.synchronize() before and after every timed block{ignored})")
    elif args.clock is None:
        args.clock = "cpu"
    sizes = args.sizes or (SIZES if cuda else ("tiny", "8x128"))
    global _CLOCK, _SYNC
    _CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    _SYNC = torch.cuda.synchronize if cuda else _no_sync
    device = torch.device("cuda" if cuda else "cpu")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if cuda:
        torch.zeros(1, device=device)  # create the CUDA context before anything is timed
        torch.cuda.synchronize()

    all_models = {
        "bert": BertLike,
        "torch-encoder": TorchEncoder,
        "mlp": make_mlp,
    }
    # built on the CPU in a fixed order (same weights on every device and for any subset)
    models = {}
    for name, build in all_models.items():
        model = build().eval()
        if name in args.models:
            models[name] = model.to(device)
    inputs = {key: value for key, value in make_inputs(device).items()
              if key[0] in models and key[1] in sizes}
    settings = {
        "default": {},
        "functional=False": {"functional": False},
        "functional=always": {"functional": "always"},
    }
    scale = 0.5 if args.quick else 1.0
    # target length of one timed block; longer on cuda (wall clock, launch jitter)
    block_s = 0.05 if cuda else 0.02
    warmup = 5 if cuda else 0  # calls per input before anything is measured
    print(f"torch {torch.__version__}, Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    if cuda:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        print(f"device: cuda, {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, "
              f"cuDNN {cudnn}, float32 matmul precision {torch.get_float32_matmul_precision()}")
    else:
        print("device: cpu")
    print(f"clock: {clock_note or args.clock}")
    print("ratio = median over paired, interleaved repeats of guarded / unguarded time "
          "(1.00 = no overhead)\n")
    header = (f"{'model':14} {'input':6} {'setting':18} {'style':8} {'base ms':>8} "
              f"{'+us/call':>9} {'ratio':>7}")
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    with torch.inference_mode():
        for (name, size), (label, x) in inputs.items():
            model = models[name]
            for _ in range(warmup):
                model(x)
            base = _time_block(lambda: model(x), 3)
            inner = max(1, min(1000, int(block_s / max(base, 1e-6))))  # ~block_s per block
            repeats = max(7, int((25 if size == "tiny" else 15) * scale))
            # for the larger inputs the two styles differ by one enter/exit (~0.05 ms on
            # ~100 ms on CPU): time the stricter per-call style only
            styles = ("region", "per-call") if size == "tiny" or name == "mlp" else ("per-call",)
            for setting, kwargs in settings.items():
                for style in styles:
                    ratio, base_t, extra = measure(model, x, kwargs, style, repeats, inner)
                    print(f"{name:14} {label:6} {setting:18} {style:8} {base_t * 1e3:8.3f} "
                          f"{extra * 1e6:+9.1f} {ratio:7.3f}", flush=True)
    print("\nenter + exit alone (no model call), median us:")
    print(f"{'model':14} " + " ".join(f"{setting:>18}" for setting in settings))
    for name, model in models.items():
        cells = [measure_enter_exit(model, kwargs, max(5, int(9 * scale)))
                 for kwargs in settings.values()]
        print(f"{name:14} " + " ".join(f"{cell * 1e6:18.2f}" for cell in cells), flush=True)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if cuda:
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    # nothing left behind
    assert not torch.nn.modules.module._global_forward_pre_hooks
    assert not torch.nn.modules.module._global_forward_hooks
    assert not torch.overrides._get_current_function_mode_stack()
    for model in models.values():
        assert all(not m._forward_pre_hooks for m in model.modules())
        assert all(not m._forward_hooks for m in model.modules())
        assert not any(m.training for m in model.modules())  # the guard changed no mode


if __name__ == "__main__":
    main()
