"""Pairs per second of each paired metric, ours next to the peer it is tested against, in one run.

Ours as `gan-eval paired` runs them, one pair at a time: PSNR, SSIM and MS-SSIM in float64 on the CPU,
LPIPS's network (random weights in the official layout, which cost what the real ones do) in float32 on
`--device`. The peers on the same pair: scikit-image's `peak_signal_noise_ratio` and
`structural_similarity` (Gaussian window, sigma 1.5, the population covariance), pytorch-msssim's
`ms_ssim` (float32), and the `lpips` package's network with random weights (nothing downloaded). Prints,
per metric and image size, milliseconds per pair for both and the ratio peer / ours (decoding not
included; a CUDA timing includes one copy back).

    OMP_NUM_THREADS=1 python benchmarks/bench_paired.py --threads 1 --sizes 256,512 --reps 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import torch

from gan_eval.devices import parse_device
from gan_eval.paired.lpips.network import CHANNELS, build_network, meta_backbone
from gan_eval.paired.psnr_ssim import ms_ssim, psnr, ssim


def _random_network(net: str, device: torch.device) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    backbone = {
        k: torch.zeros(()).expand(v.shape) if k.startswith("classifier") else 0.05 * torch.randn(v.shape, generator=g)
        for k, v in meta_backbone(net).state_dict().items()
    }
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(CHANNELS[net])}
    return build_network(net, backbone, linear).to(device)


def _metrics(a: torch.Tensor, b: torch.Tensor, networks: dict[str, torch.nn.Module]) -> dict[str, Callable[[], object]]:
    """Each metric of the pair `(a, b)` as a function of no arguments (LPIPS on its network's device)."""
    timings: dict[str, Callable[[], object]] = {
        name: partial(f, a, b) for name, f in (("psnr", psnr), ("ssim", ssim), ("ms_ssim", ms_ssim))
    }
    for net, network in networks.items():
        device = network.shift.device
        timings[f"lpips-{net}"] = torch.inference_mode()(partial(network, a.to(device), b.to(device)))
    return timings


def _lpips_peer(net: str, device: torch.device) -> torch.nn.Module:
    import lpips

    return lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False).to(device).eval()


def _peers(a: torch.Tensor, b: torch.Tensor, networks: dict[str, torch.nn.Module]) -> dict[str, Callable[[], object]]:
    """The peer of each metric on the same pair (LPIPS takes [-1, 1] floats)."""
    from pytorch_msssim import ms_ssim as peer_ms_ssim
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x, y = (t[0].permute(1, 2, 0).numpy() for t in (a, b))
    ssim_settings = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 255}
    timings: dict[str, Callable[[], object]] = {
        "psnr": partial(peak_signal_noise_ratio, x, y, data_range=255),
        "ssim": partial(structural_similarity, x, y, channel_axis=2, **ssim_settings),
        "ms_ssim": partial(peer_ms_ssim, a.float(), b.float(), data_range=255),
    }
    for net, network in networks.items():
        device = next(network.parameters()).device
        scaled = [(t.float() / 127.5 - 1).to(device) for t in (a, b)]
        timings[f"lpips-{net}"] = torch.inference_mode()(partial(network, *scaled))
    return timings


def _time(function, reps: int) -> float:
    function()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        function()
    return (time.perf_counter() - start) / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512", help="square image sides, comma-separated")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = parse_device(args.device)
    networks = {net: _random_network(net, device) for net in ("alex", "vgg")}
    peer_networks = {net: _lpips_peer(net, device) for net in ("alex", "vgg")}
    print(f"device={device} threads={args.threads}")
    print(f"{'metric':<12}{'size':>6}{'ours ms':>10}{'peer ms':>10}{'peer/ours':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        g = torch.Generator().manual_seed(size)
        a = torch.randint(0, 256, (1, 3, size, size), generator=g, dtype=torch.uint8)
        b = torch.randint(0, 256, (1, 3, size, size), generator=g, dtype=torch.uint8)
        peers = _peers(a, b, peer_networks)
        for name, function in _metrics(a, b, networks).items():
            ours, peer = _time(function, args.reps), _time(peers[name], args.reps)
            print(f"{name:<12}{size:>6}{ours * 1e3:>10.1f}{peer * 1e3:>10.1f}{peer / ours:>10.2f}x")


if __name__ == "__main__":
    main()
