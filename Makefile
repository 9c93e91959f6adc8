# Two commands: `make run` (the main job on the embedded local stack) and `make test` (the whole suite).
# Ops: `make synth` (every region of infra/regions.json, offline, cfn-lint checked) and `make deploy REGION=...`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run serve test lint format bench clean synth deploy

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "pip<26.3"
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m local run

serve: $(STAMP)
	$(BIN)/python -m local serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
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

# One region, for real: package (code zip + SAM template), upload the artifacts, deploy the stack. Needs the region's
# AWS credentials and ARTIFACT_BUCKET (an S3 bucket in that region); refuses clearly without them.
DEPLOY_DIR = build/regions/$(REGION)
deploy: $(STAMP)
	@test -n "$(REGION)" || { echo "make deploy: set REGION=<a region of infra/regions.json>" >&2; exit 2; }
	@test -n "$(ARTIFACT_BUCKET)" || { echo "make deploy: set ARTIFACT_BUCKET=<S3 bucket in $(REGION)>" >&2; exit 2; }
	@AWS_DEFAULT_REGION=$(REGION) $(BIN)/python -c 'import boto3, sys; sys.exit(0 if boto3.Session().get_credentials() else "make deploy: no AWS credentials for $(REGION) (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")'
	$(BIN)/python -m infra.build --region $(REGION) --out $(DEPLOY_DIR)
	cd $(CURDIR) && AWS_DEFAULT_REGION=$(REGION) $(BIN)/chalice package --stage $$($(BIN)/python -c 'from infra.regions import find_region; print(find_region("$(REGION)").stage)') \
		--merge-template $(DEPLOY_DIR)/merge.json $(DEPLOY_DIR)/package
	aws cloudformation package --region $(REGION) --template-file $(DEPLOY_DIR)/package/sam.json \
		--s3-bucket $(ARTIFACT_BUCKET) --output-template-file $(DEPLOY_DIR)/packaged.yaml
	aws cloudformation deploy --region $(REGION) --template-file $(DEPLOY_DIR)/packaged.yaml \
		--stack-name $$($(BIN)/python -c 'from infra.regions import find_region; print(find_region("$(REGION)").stack_name)') \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND --no-fail-on-empty-changeset
	aws cloudformation describe-stacks --region $(REGION) \
		--stack-name $$($(BIN)/python -c 'from infra.regions import find_region; print(find_region("$(REGION)").stack_name)') \
		--query "Stacks[0].Outputs[?OutputKey=='EgressIps' || OutputKey=='EndpointURL']" --output table

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build
