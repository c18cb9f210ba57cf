# The README's two commands: `make demo` and `make test`. Each works alone on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
# Debian's package: the playground's browser tests drive it.
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-slow test-browser lint bench figures post mutate mutate-quick clean

$(VENV)/.runtime: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/backprop slp --gif slp.gif --plot slp.png
	@echo "make demo: wrote $(CURDIR)/slp.gif and $(CURDIR)/slp.png"

test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest
	@[ -x $(CHROMIUM) ] || echo "make test: no $(CHROMIUM), so the playground's browser tests did not run: apt-get install chromium, then make test-browser"

# Checks too slow for `make test` (marked @pytest.mark.slow); .ci/run runs them too.
test-slow: $(VENV)/.dev
	$(BIN)/pytest -m slow || [ $$? -eq 5 ]  # 5: no test in the group, not a failure

# The playground page in a real Chromium (Debian's package, driven by Playwright); screenshots of
# every view go to $$PLAYGROUND_SCREENSHOTS (default: playground-screenshots in the temp dir).
test-browser: $(VENV)/.dev
	@[ -x $(CHROMIUM) ] || { echo "make test-browser: needs $(CHROMIUM): apt-get install chromium"; exit 1; }
	$(BIN)/pytest -m browser

# Every figure of docs/notes.md, from the project's own commands.
figures: $(VENV)/.runtime
	$(PY) docs/figures/convergence.py docs/figures/convergence.png
	$(BIN)/backprop slp --gif docs/figures/slp.gif --plot docs/figures/slp-loss.png
	$(BIN)/backprop explain --graph docs/figures/graph.png
	$(PY) docs/figures/gradient_flow.py docs/figures/gradient-flow.png

# The notes as the Hugo post (TOML front matter, \( \) and \[ \] math), from docs/notes.md.
post: $(VENV)/.runtime
	$(PY) docs/post.py docs/notes.md out/post/notes.md

# The speed suite (benchmarks/): about 8 minutes; writes benchmarks/results.md and the README's table;
# then the width × batch sweep against PyTorch, about 4 minutes (benchmarks/sweep-results.md, the
# heatmap docs/figures/speed-sweep.png, the README's sweep summary; `python -m benchmarks.sweep
# --quick --no-write` checks it in a minute or two); then the playground's steps and view updates
# per second (benchmarks/playground-results.md).
bench: $(VENV)/.dev
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.sweep
	$(PY) -m benchmarks.playground

# The mutation run (benchmarks/mutate.py): plants each bug of benchmarks/mutations.py in a copy
# of the repository and checks that a test catches it; writes benchmarks/mutation.md. About
# 15 minutes. mutate-quick plants a few (well under the 2 minutes .ci/run allows for it).
mutate: $(VENV)/.dev
	$(PY) -m benchmarks.mutate --write

mutate-quick: $(VENV)/.dev
	$(PY) -m benchmarks.mutate --quick --no-baseline

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
