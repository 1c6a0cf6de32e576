"""Side-by-side benchmarks: `python -m bench [--quick|--smoke] [--only NAME,...]`."""
