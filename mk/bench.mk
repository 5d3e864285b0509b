# Host benchmark suite (benchmarks/suite.json): export, time against torch fp32 and peers, interaction scaling.
# Results land in benchmarks/results/ (committed). BENCH_ARGS passes extra flags, e.g.
#   make bench BENCH_ARGS="--preset lightavseg-tiny --checkpoint lightavseg-tiny=runs/T/model.pt"
.PHONY: bench
BENCH_ARGS ?=

bench: $(STAMP)
	$(PY) -m lightavseg_mobile.bench.suite benchmarks/suite.json --out benchmarks/results --exports exports/suite $(BENCH_ARGS)
