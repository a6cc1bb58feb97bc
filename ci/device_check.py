#!/usr/bin/env python3
"""clip4j's CUDA kernels through the C ABI (native/include/clip4j/clip4j.h), checked against torch.

Driven by ci/device-check.sh (read its header first). Needs python3 with torch (1.13 or 2.x); no JDK.

  device_check.py --lib DIR              every check; needs a CUDA device
  device_check.py --lib DIR --small      a few small launches (for compute-sanitizer)
  device_check.py --lib DIR --cpu-only   the checks that need no GPU: the reference used for the CUDA
                                         checks against clip4j's CPU head, argument validation, and
                                         clip4j_cuda_available's reason

Each check prints one line (PASS/FAIL name: detail); the exit status is 0 only when all passed.
"""
import argparse
import ctypes
import math
import os
import sys
import time

import torch

OK, INVALID_ARGUMENT, UNSUPPORTED, OUT_OF_MEMORY, CUDA = 0, 1, 2, 3, 4
F32, F16, BF16 = 0, 1, 2
IN_OUT, OUT_IN = 0, 1
ACTS = {0: "identity", 1: "quick_gelu", 2: "gelu", 3: "tanh"}
TORCH_DTYPE = {F32: torch.float32, F16: torch.float16, BF16: torch.bfloat16}
DTYPE_NAME = {F32: "f32", F16: "f16", BF16: "bf16"}
EPS = 1e-12

results = []
LIB_DIR = None


def report(name, ok, detail=""):
    results.append((name, ok))
    print(("PASS " if ok else "FAIL ") + name + (": " + detail if detail else ""), flush=True)
    return ok


def load(lib_dir):
    lib = ctypes.CDLL(os.path.join(lib_dir, "libclip4j.so"))
    vp, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
    lib.clip4j_version.restype = ctypes.c_char_p
    lib.clip4j_last_error.restype = ctypes.c_char_p
    lib.clip4j_cuda_available.argtypes = [ctypes.POINTER(i32)]
    lib.clip4j_cuda_available.restype = i32
    lib.clip4j_head_forward_f32.argtypes = [vp, i64, i64, vp, i32, i64, vp, i32, i32, ctypes.c_float, vp]
    lib.clip4j_head_forward_f32.restype = i32
    lib.clip4j_head_forward_cuda.argtypes = [vp, i32, i64, i64, vp, i32, i64, vp, i32, i32, ctypes.c_float, vp, i32, vp]
    lib.clip4j_head_forward_cuda.restype = i32
    return lib


def last_error(lib):
    return lib.clip4j_last_error().decode("utf-8", "replace")


def ptr(t):
    return ctypes.c_void_p(t.data_ptr()) if t is not None else None


# ----------------------------------------------------------------------------------- reference

def activate(y, act):
    if act == 1:
        return y * torch.sigmoid(1.702 * y)
    if act == 2:
        return 0.5 * y * (1.0 + torch.erf(y / math.sqrt(2.0)))
    if act == 3:
        return torch.tanh(y)
    return y


def reference(x, w, layout, b, act, normalize):
    """float64 on the CPU from the (already dtype-rounded) float32 inputs."""
    x = x.double().cpu()
    if w is None:
        y = x.clone()
    else:
        w = w.double().cpu()
        y = x @ (w if layout == IN_OUT else w.t())
    if b is not None:
        y = y + b.double().cpu()
    y = activate(y, act)
    if normalize:
        y = y / y.norm(dim=1, keepdim=True).clamp_min(EPS)
    return y


def close(got, want, out_dtype):
    """|got - want| <= atol + rtol |want| with tolerances for the output's rounding."""
    rtol = {F32: 2e-5, F16: 2e-3, BF16: 1.6e-2}[out_dtype]
    atol = {F32: 2e-6, F16: 2e-4, BF16: 2e-3}[out_dtype]
    got = got.double().cpu()
    err = (got - want).abs() - rtol * want.abs()
    worst = float(err.max()) if err.numel() else 0.0
    finite = bool(torch.isfinite(got).all())
    return finite and worst <= atol, worst


def inputs(gen, n, d_in, d_out, layout, dtype, bias, scale=1.0, device="cpu"):
    x = (torch.randn(n, d_in, generator=gen) * scale).to(TORCH_DTYPE[dtype])
    wshape = (d_in, d_out) if layout == IN_OUT else (d_out, d_in)
    w = (torch.randn(*wshape, generator=gen) / math.sqrt(d_in)).to(TORCH_DTYPE[dtype])
    b = (torch.randn(d_out, generator=gen) * 0.1).to(TORCH_DTYPE[dtype]) if bias else None
    mv = lambda t: None if t is None else t.to(device).contiguous()
    return mv(x), mv(w), mv(b)


# ----------------------------------------------------------------------------------- CPU checks

def cpu_checks(lib):
    """The reference against clip4j's CPU head (fp32), so the CUDA checks rest on a tested reference."""
    gen = torch.Generator().manual_seed(1)
    worst_all = 0.0
    ok_all = True
    for layout in (IN_OUT, OUT_IN):
        for bias in (False, True):
            for act in ACTS:
                for normalize in (0, 1):
                    x, w, b = inputs(gen, 19, 96, 40, layout, F32, bias)
                    out = torch.full((19, 40), float("nan"))
                    st = lib.clip4j_head_forward_f32(ptr(x), 19, 96, ptr(w), layout, 40, ptr(b), act, normalize,
                                                     EPS, ptr(out))
                    ok, worst = close(out, reference(x, w, layout, b, act, normalize), F32)
                    ok_all &= st == OK and ok
                    worst_all = max(worst_all, worst)
    report("reference == clip4j CPU head (fp32, both layouts, bias on/off, 4 activations, norm on/off)", ok_all,
           "worst excess %.2e" % worst_all)
    x, _, b = inputs(gen, 7, 33, 33, IN_OUT, F32, True)
    out = torch.empty(7, 33)
    st = lib.clip4j_head_forward_f32(ptr(x), 7, 33, None, IN_OUT, 33, ptr(b), 3, 1, EPS, ptr(out))
    ok, worst = close(out, reference(x, None, IN_OUT, b, 3, 1), F32)
    report("reference == clip4j CPU head without projection", st == OK and ok, "worst excess %.2e" % worst)
    # Validation happens before CUDA is needed: the same answer with or without a GPU.
    d = torch.zeros(8)
    st = lib.clip4j_head_forward_cuda(ptr(d), F32, 1, 4, ptr(d), IN_OUT, 8193, None, 0, 1, EPS, ptr(d), F32, None)
    report("d_out 8193 refused before launch", st == INVALID_ARGUMENT and "8192" in last_error(lib), last_error(lib))
    st = lib.clip4j_head_forward_cuda(ptr(d), 7, 1, 4, ptr(d), IN_OUT, 4, None, 0, 1, EPS, ptr(d), F32, None)
    report("unknown dtype refused", st == INVALID_ARGUMENT and "dtype" in last_error(lib), last_error(lib))
    st = lib.clip4j_head_forward_cuda(ptr(d), F32, 1, 4, ptr(d), 5, 4, None, 0, 1, EPS, ptr(d), F32, None)
    report("unknown layout refused", st == INVALID_ARGUMENT, last_error(lib))
    st = lib.clip4j_head_forward_cuda(ptr(d), F32, 1, 4, ptr(d), IN_OUT, 4, None, 0, 1, -1.0, ptr(d), F32, None)
    report("eps <= 0 refused", st == INVALID_ARGUMENT, last_error(lib))


def cuda_available(lib):
    a = ctypes.c_int32(-1)
    st = lib.clip4j_cuda_available(ctypes.byref(a))
    return st == OK and a.value == 1, last_error(lib)


# ----------------------------------------------------------------------------------- CUDA checks

DRY_RUN = False  # --dry-run: the harness's own logic on the CPU, a torch stand-in for the kernel


def sync():
    if not DRY_RUN:
        sync()


class _NoStream:
    cuda_stream = 0

    def synchronize(self):
        pass


class _NoContext:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def new_stream():
    return _NoStream() if DRY_RUN else torch.cuda.Stream()


def on_stream(s):
    return _NoContext() if DRY_RUN else torch.cuda.stream(s)


def fake_kernel(x, dtype, w, layout, b, act, normalize, out, out_dtype, n, d_out):
    """--dry-run's stand-in: the head's math (validation as the C entry point does it)."""
    if d_out > 8192 or dtype not in TORCH_DTYPE or out_dtype not in TORCH_DTYPE or layout not in (IN_OUT, OUT_IN):
        return INVALID_ARGUMENT
    if n == 0:
        return OK
    xf = x[:n].double()  # float64, rounded once at the end: a row's value does not depend on n here either
    y = xf if w is None else (xf @ (w.double() if layout == IN_OUT else w.double().t()))
    if b is not None:
        y = y + b.double()
    y = activate(y, act)
    if normalize:
        y = y / y.norm(dim=1, keepdim=True).clamp_min(EPS)
    out[:n] = y.to(out.dtype)
    return OK


def call_cuda(lib, x, dtype, w, layout, b, act, normalize, out, out_dtype, stream=None, n=None, d_out=None):
    n = x.shape[0] if n is None else n
    d_in = x.shape[1]
    d_out = out.shape[1] if d_out is None else d_out
    if DRY_RUN:
        return fake_kernel(x, dtype, w, layout, b, act, normalize, out, out_dtype, n, d_out)
    s = ctypes.c_void_p(stream.cuda_stream) if stream is not None else ctypes.c_void_p(
        torch.cuda.current_stream().cuda_stream)
    return lib.clip4j_head_forward_cuda(ptr(x), dtype, n, d_in, ptr(w), layout, d_out, ptr(b), act, normalize, EPS,
                                        ptr(out), out_dtype, s)


def rounded(t):
    return None if t is None else t.float().cpu()


def cuda_checks(lib, small):
    dev = torch.device("cpu" if DRY_RUN else "cuda")
    gen = torch.Generator().manual_seed(7)
    # 1. Every dtype in/out x layout x bias x activation x normalisation.
    n, d_in, d_out = (5, 64, 24) if small else (37, 300, 130)
    dtypes = (F32, F16, BF16)
    failures = []
    count = 0
    for dt in dtypes:
        for odt in dtypes:
            for layout in (IN_OUT, OUT_IN):
                for bias in ((True,) if small else (False, True)):
                    for act in ((0, 2) if small else ACTS):
                        for normalize in ((1,) if small else (0, 1)):
                            x, w, b = inputs(gen, n, d_in, d_out, layout, dt, bias, device=dev)
                            out = torch.full((n, d_out), float("nan"), dtype=TORCH_DTYPE[odt], device=dev)
                            st = call_cuda(lib, x, dt, w, layout, b, act, normalize, out, odt)
                            sync()
                            ok, worst = close(out, reference(rounded(x), rounded(w), layout, rounded(b), act, normalize),
                                              odt)
                            count += 1
                            if st != OK or not ok:
                                failures.append("%s->%s %s bias=%s %s norm=%d: status %d %s worst %.2e" % (
                                    DTYPE_NAME[dt], DTYPE_NAME[odt], "IN_OUT" if layout == IN_OUT else "OUT_IN", bias,
                                    ACTS[act], normalize, st, last_error(lib) if st else "", worst))
    report("dtypes in/out x layouts x bias x activations x normalisation (%d launches)" % count, not failures,
           "; ".join(failures[:5]))
    for dt in dtypes:  # without projection: bias, activation and normalisation only (TorchScript programs' heads)
        x, _, b = inputs(gen, n, d_in, d_in, IN_OUT, dt, True, device=dev)
        out = torch.empty(n, d_in, device=dev)
        st = call_cuda(lib, x, dt, None, IN_OUT, b, 0, 1, out, F32)
        sync()
        ok, worst = close(out, reference(rounded(x), None, IN_OUT, rounded(b), 0, 1), F32)
        report("no projection, %s in" % DTYPE_NAME[dt], st == OK and ok, "status %d worst %.2e" % (st, worst))

    # 2. Edge widths, and the 8193 refusal.
    for dw in (1, 33, 8192):
        for layout in (IN_OUT, OUT_IN):
            x, w, b = inputs(gen, 9, 64, dw, layout, F32, False, device=dev)
            out = torch.full((9, dw), float("nan"), device=dev)
            st = call_cuda(lib, x, F32, w, layout, None, 0, 1, out, F32)
            sync()
            ok, worst = close(out, reference(rounded(x), rounded(w), layout, None, 0, 1), F32)
            report("d_out %d %s" % (dw, "IN_OUT" if layout == IN_OUT else "OUT_IN"), st == OK and ok,
                   "status %d worst %.2e" % (st, worst))
    x, w, _ = inputs(gen, 2, 16, 8193, IN_OUT, F32, False, device=dev)
    out = torch.zeros(2, 8193, device=dev)
    st = call_cuda(lib, x, F32, w, IN_OUT, None, 0, 1, out, F32)
    report("d_out 8193 refused", st == INVALID_ARGUMENT, last_error(lib))

    # 3. Poisoned output with guard rows: every row written, nothing past the end.
    x, w, b = inputs(gen, 6, 48, 20, IN_OUT, F16, True, device=dev)
    buf = torch.full((8, 20), float("nan"), dtype=torch.float32, device=dev)
    buf.view(torch.int32)[6:] = 0x7FC0DEAD  # a NaN with a payload no kernel writes
    st = call_cuda(lib, x, F16, w, IN_OUT, b, 1, 1, buf, F32, n=6)
    sync()
    guard = buf[6:].cpu().view(torch.int32)
    ok, worst = close(buf[:6], reference(rounded(x), rounded(w), IN_OUT, rounded(b), 1, 1), F32)
    report("poisoned output: rows written, guard rows untouched",
           st == OK and ok and bool((guard == 0x7FC0DEAD).all()), "worst %.2e" % worst)
    st = call_cuda(lib, x, F16, w, IN_OUT, b, 1, 1, buf, F32, n=0)
    report("n = 0 launches nothing", st == OK and bool((buf[6:].cpu().view(torch.int32) == 0x7FC0DEAD).all()),
           last_error(lib) if st else "")

    if small:
        return

    # 4. More rows than the grid (65535 blocks): every row right, and each row's bits what it gets alone.
    n_big = 70001
    x, w, _ = inputs(gen, n_big, 64, 33, IN_OUT, F32, False, device=dev)
    out = torch.empty(n_big, 33, device=dev)
    st = call_cuda(lib, x, F32, w, IN_OUT, None, 2, 1, out, F32)
    sync()
    ok, worst = close(out, reference(rounded(x), rounded(w), IN_OUT, None, 2, 1), F32)
    invariant = True
    for r in (0, 65534, 65535, 65536, n_big - 1):
        one = torch.empty(1, 33, device=dev)
        xr = x[r:r + 1].clone()
        call_cuda(lib, xr, F32, w, IN_OUT, None, 2, 1, one, F32)
        sync()
        invariant &= torch.equal(one[0], out[r])
    report("n = %d > 65535: values, and rows bitwise equal to a batch of one" % n_big, st == OK and ok and invariant,
           "worst %.2e invariant %s" % (worst, invariant))

    # 5. A non-default stream, inputs produced on it.
    s = new_stream()
    with on_stream(s):
        xs = (torch.randn(4096, 256, device=dev) * 3.0).contiguous()
        ws = (torch.randn(256, 64, device=dev) / 16).contiguous()
        outs = torch.empty(4096, 64, device=dev)
        st = call_cuda(lib, xs, F32, ws, IN_OUT, None, 0, 1, outs, F32, stream=s)
    s.synchronize()
    ok, worst = close(outs, reference(xs.cpu(), ws.cpu(), IN_OUT, None, 0, 1), F32)
    report("launch on a non-default stream after work queued there", st == OK and ok, "worst %.2e" % worst)

    # 6. Repeated calls: the same bits.
    x, w, b = inputs(gen, 64, 512, 512, OUT_IN, BF16, True, device=dev)
    outs = []
    for _ in range(3):
        o = torch.empty(64, 512, device=dev)
        call_cuda(lib, x, BF16, w, OUT_IN, b, 2, 1, o, F32)
        outs.append(o)
    sync()
    report("repeated calls give identical bits", all(torch.equal(outs[0], o) for o in outs[1:]))

    # 7. CUDA fp32 vs clip4j's CPU head.
    worst_all, ok_all = 0.0, True
    for layout in (IN_OUT, OUT_IN):
        for act in ACTS:
            x, w, b = inputs(gen, 23, 200, 70, layout, F32, True)
            cpu_out = torch.empty(23, 70)
            lib.clip4j_head_forward_f32(ptr(x), 23, 200, ptr(w), layout, 70, ptr(b), act, 1, EPS, ptr(cpu_out))
            xg, wg, bg = x.to(dev), w.to(dev), b.to(dev)
            g = torch.empty(23, 70, device=dev)
            st = call_cuda(lib, xg, F32, wg, layout, bg, act, 1, g, F32)
            sync()
            worst = float((g.cpu() - cpu_out).abs().max())
            worst_all = max(worst_all, worst)
            ok_all &= st == OK and worst <= 2e-5
    report("CUDA fp32 == CPU head (<= 2e-5)", ok_all, "max abs %.2e" % worst_all)

    # 8. A CUDA error left pending by earlier work is reported as that, not as the head's.
    if DRY_RUN:
        return
    cudart = companion_runtime(LIB_DIR)
    if cudart is None:
        report("pending CUDA error attribution", False, "cannot find the libcudart the companion loaded")
    else:
        cudart.cudaSetDevice.argtypes = [ctypes.c_int]
        bad = cudart.cudaSetDevice(9999)  # cudaErrorInvalidDevice, left pending on this thread
        x, w, _ = inputs(gen, 3, 16, 8, IN_OUT, F32, False, device=dev)
        o = torch.empty(3, 8, device=dev)
        st = call_cuda(lib, x, F32, w, IN_OUT, None, 0, 1, o, F32)
        msg = last_error(lib)
        st2 = call_cuda(lib, x, F32, w, IN_OUT, None, 0, 1, o, F32)
        sync()
        report("pending CUDA error attribution", bad != 0 and st == CUDA and "already pending" in msg
               and "cudaErrorInvalidDevice" in msg and st2 == OK, "first: %d '%s'; second: %d" % (st, msg, st2))


def companion_runtime(lib_dir):
    """The libcudart instance libclip4j_cuda.so loaded (cudaGetLastError is per runtime instance):
    the mapped library whose name is the companion's DT_NEEDED soname (torch may map another major)."""
    import subprocess
    soname = None
    try:
        dyn = subprocess.run(["readelf", "-d", os.path.join(lib_dir, "libclip4j_cuda.so")], capture_output=True,
                             text=True).stdout
        for line in dyn.splitlines():
            if "NEEDED" in line and "libcudart.so" in line:
                soname = line.split("[")[1].split("]")[0]
    except (OSError, IndexError):
        pass
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "libcudart.so" in line})
    if soname is not None:
        paths = [p for p in paths if os.path.basename(p).startswith(soname)] or paths
    for p in reversed(paths):
        try:
            return ctypes.CDLL(p)
        except OSError:
            continue
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True, help="directory with libclip4j.so and libclip4j_cuda.so")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--dry-run", action="store_true",
                    help="run the CUDA checks' own logic on the CPU with a torch stand-in for the kernel (tests the"
                         " harness, not the kernel)")
    a = ap.parse_args()
    global DRY_RUN
    DRY_RUN = a.dry_run
    start = time.time()
    global LIB_DIR
    LIB_DIR = a.lib
    lib = load(a.lib)
    print("clip4j %s, torch %s" % (lib.clip4j_version().decode(), torch.__version__), flush=True)
    cpu_checks(lib)
    available, why = cuda_available(lib)
    if a.cpu_only or a.dry_run:
        report("clip4j_cuda_available answers with a reason", available or bool(why), why or "available")
        if a.dry_run:
            print("device_check: DRY RUN of the CUDA checks (a torch stand-in on the CPU, not clip4j's kernel):")
            cuda_checks(lib, a.small)
        print("device_check: CPU-side checks done; the CUDA checks need a GPU (not run)")
    elif not torch.cuda.is_available() or not available:
        report("CUDA available", False, "CUDA is not available: torch.cuda.is_available()=%s; clip4j: %s"
               % (torch.cuda.is_available(), why or "available"))
    else:
        print("device: %s (%s)" % (torch.cuda.get_device_name(0), ".".join(map(str, torch.cuda.get_device_capability(0)))),
              flush=True)
        cuda_checks(lib, a.small)
    failed = [n for n, ok in results if not ok]
    print("device_check: %d checks, %d failed, %.1f s" % (len(results), len(failed), time.time() - start))
    for n in failed:
        print("  FAILED: " + n)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
