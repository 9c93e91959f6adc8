# Two commands: `make run` (the main job on the embedded local stack) and `make test` (the whole suite).
# Ops: `make synth` (every region of infra/regions.json, offline, cfn-lint checked) and `make deploy REGION=...`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run serve test lint format bench clean synth deploy chromium

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "pip<26.3"
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

# Debian's chromium for the shared page's end-to-end test (the machine and CI run as root); where it cannot be
# installed, that test skips with the reason.
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium) || \
		echo "chromium could not be installed: the browser test will be skipped"; fi

install: $(STAMP) chromium

run: $(STAMP)
	$(BIN)/python -m local run

serve: $(STAMP)
	$(BIN)/python -m local serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint chromium
	$(BIN)/python -m pytest -q -n 2

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Every listed region into build/regions/<region>/ (merge.json, sam.json); PACKAGE=1 also runs the real
# `chalice package` per region (downloads the Lambda wheels).
synth: $(STAMP)
	$(BIN)/python -m infra.synth $(if $(PACKAGE),--package)

# One region, for real (infra/deploy.py): build the merge template, chalice package, upload the artifacts, deploy the
# stack, print its egress IPs. Needs ARTIFACT_BUCKET (an S3 bucket in that region) and the region's AWS credentials,
# and refuses clearly without them; DRY_RUN=1 prints the commands only.
deploy: $(STAMP)
	@test -n "$(REGION)" || { echo "make deploy: set REGION=<a region of infra/regions.json>" >&2; exit 2; }
	$(BIN)/python -m infra.deploy --region $(REGION) --bucket "$(ARTIFACT_BUCKET)" $(if $(DRY_RUN),--dry-run)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build
