# Fuzzing the parsers of outside data (tests/test_fuzz_parsers.py). `make test` runs the bounded, derandomized
# CI budget (profile "ci"); this target runs the long budget (profile "long", random seeds) on its own.
.PHONY: fuzz

fuzz: $(STAMP)  ## long fuzz run of every parser of outside data (HYPOTHESIS_PROFILE=long)
	HYPOTHESIS_PROFILE=long $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz_parsers.py --durations=12
