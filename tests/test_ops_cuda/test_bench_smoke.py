"""The GPU benchmark also runs on CPU (reference ops only): a tiny smoke run of its whole path."""

import torch


def test_bench_cuda_ops_cpu_smoke(capsys, tmp_path, benchmark_script):
    bench = benchmark_script("bench_cuda_ops")
    out = tmp_path / "bench.md"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert bench.main(["--device", "cpu", "--resolution", "64", "--batch-sizes", "1", "2", "--warmup", "0",
                           "--iters", "1", "--channel-base", "512", "--channel-max", "32", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    table = capsys.readouterr().out
    assert table.strip() == out.read_text().strip()
    assert "64x64" in table and "CUDA ops not run" in table
    rows = [ln for ln in table.splitlines() if ln.startswith("| fp32 |")]
    assert len(rows) == 2
    ref_fwd = float(rows[0].split("|")[3])
    assert ref_fwd > 0
