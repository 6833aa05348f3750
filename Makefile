# Two commands: `make run` and `make test`. Everything else they need, they install.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench soak lint fmt venv browser clean-data

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q --disable-pip-version-check uv
	@echo "installing Python dependencies into $(VENV) ..."
	@$(BIN)/uv pip install --python $(BIN)/python -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	@$(BIN)/o2o run

test: $(STAMP) browser
	@$(BIN)/ruff check core wechat shop orders payments delivery engage web bench tests migrations
	@$(BIN)/mypy
	@$(BIN)/python -m pytest -n $${PYTEST_WORKERS:-2} -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	@$(BIN)/python -m bench $(if $(ONLY),--only $(ONLY))

soak: $(STAMP)
	@$(BIN)/python -m bench.soak

lint: $(STAMP)
	@$(BIN)/ruff check core wechat shop orders payments delivery engage web bench tests migrations
	@$(BIN)/ruff format --check core wechat shop orders payments delivery engage web bench tests migrations
	@$(BIN)/mypy

fmt: $(STAMP)
	@$(BIN)/ruff format core wechat shop orders payments delivery engage web bench tests migrations
	@$(BIN)/ruff check --fix core wechat shop orders payments delivery engage web bench tests migrations

# Browser tests use Debian's chromium (never `playwright install`); installed here when missing.
browser:
	@test -x /usr/bin/chromium || bash scripts/install-chromium.sh

clean-data:
	rm -rf .data
