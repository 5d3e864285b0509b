# Host benchmark suite (benchmarks/suite.json): export, time against torch fp32 and peers, interaction scaling.
# Results land in benchmarks/results/ (committed). BENCH_ARGS passes extra flags, e.g.
#   make bench BENCH_ARGS="--preset lightavseg-tiny --checkpoint lightavseg-tiny=runs/T/model.pt"
.PHONY: bench bench-peers
BENCH_ARGS ?=

# The ExecuTorch peer is installed only here: it pulls coremltools/cattrs, which want a newer typing_extensions than
# xdsl (litert-torch) pins; pip warns, both keep working (measured). torch stays pinned in the same command.
bench-peers: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check executorch==1.5.1 torch==2.13.0

bench: bench-peers
	$(PY) -m lightavseg_mobile.bench.suite benchmarks/suite.json --out benchmarks/results --exports exports/suite $(BENCH_ARGS)

# The lavseg-export quality bars (wall time of `--format all --int8`, sizes, parity): benchmarks/results/export.{json,md}.
.PHONY: bench-export
bench-export: $(STAMP)
	$(PY) benchmarks/export_bars.py
