# serverless-patterns: build, deploy and test the modules.
# `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ENV ?= local
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUILD := build
MODULES := $(sort $(wildcard modules/*) $(wildcard modules/*/modules/*))
# envs/shared is the one composition the environments link to, not an environment.
ENVS := $(filter-out envs/shared,$(sort $(wildcard envs/*)))
TERRAFORM ?= terraform

# Use the local provider mirror when the machine has one; otherwise leave the
# user's Terraform configuration (and the registry) alone.
TF_MIRROR_CONFIG := $(shell scripts/terraformrc.sh $(BUILD)/terraformrc)
ifneq ($(TF_MIRROR_CONFIG),)
export TF_CLI_CONFIG_FILE := $(abspath $(TF_MIRROR_CONFIG))
endif
export TF_IN_AUTOMATION := 1
export AWS_DEFAULT_REGION ?= us-east-1
# Plugins are shared by every init in the repo instead of copied per folder.
export TF_PLUGIN_CACHE_DIR := $(abspath $(BUILD))/terraform-plugins

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/dev.txt requirements/lambda.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

.PHONY: setup
setup: $(VENV)/.installed ## Create .venv with the pinned test dependencies
	@mkdir -p $(TF_PLUGIN_CACHE_DIR)

.PHONY: package
package: setup ## Build one reproducible zip per Lambda into build/lambda
	$(BIN)/python scripts/package.py --build-dir $(BUILD)

.PHONY: up
up: ## Start the embedded emulator (MiniStack) on 127.0.0.1:4566
	scripts/emulator.sh up

.PHONY: down
down: ## Stop the emulator started by `make up`
	scripts/emulator.sh down

.PHONY: init
init: setup ## terraform init of envs/$(ENV)
	$(TERRAFORM) -chdir=envs/$(ENV) init -input=false -no-color >/dev/null

.PHONY: validate
validate: init ## Validate envs/$(ENV) (no AWS credentials needed)
	$(TERRAFORM) -chdir=envs/$(ENV) validate -no-color

.PHONY: plan
plan: validate ## Validate and plan envs/$(ENV) (dev/prod: AWS credentials, or AWS_ENDPOINT_URL for an emulator)
	$(TERRAFORM) -chdir=envs/$(ENV) plan -input=false

.PHONY: apply
apply: package init ## Apply envs/$(ENV) (local: starts the emulator first)
	$(if $(filter local,$(ENV)),scripts/emulator.sh up)
	$(TERRAFORM) -chdir=envs/$(ENV) apply -input=false -auto-approve

.PHONY: destroy
destroy: init ## Destroy envs/$(ENV)
	$(TERRAFORM) -chdir=envs/$(ENV) destroy -input=false -auto-approve

.PHONY: demo
demo: package ## Run a 1,200-subtask fan-out job and a load-leveling burst end to end on the emulator
	scripts/with-emulator.sh $(BIN)/python scripts/demo.py

# The job commands act on the stack `make demo` (or `make up` + `make demo`) deployed.
JOBS_CLI = PYTHONPATH=lambdas:ops AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-test} AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-$$(scripts/emulator.sh url)} $(BIN)/python -m serverless_patterns_ops

.PHONY: job-submit
job-submit: setup ## Submit FILE as a fan-out job and follow it (CHUNK_SIZE=bytes optional)
	$(JOBS_CLI) submit $(FILE) $(if $(CHUNK_SIZE),--chunk-size $(CHUNK_SIZE))

.PHONY: job-status
job-status: setup ## Follow job JOB to its end
	$(JOBS_CLI) status $(JOB) --watch

.PHONY: job-result
job-result: setup ## Print the consolidated result of job JOB
	$(JOBS_CLI) result $(JOB)

.PHONY: jobs
jobs: setup ## List the jobs of the demo stack
	$(JOBS_CLI) list

.PHONY: redrive
redrive: setup ## Move DLQ QUEUE's messages back to their source (RATE=msgs/s, DRY_RUN=1 optional)
	$(JOBS_CLI) redrive --queue $(QUEUE) $(if $(RATE),--max-per-second $(RATE)) $(if $(DRY_RUN),--dry-run)

.PHONY: dlq-export
dlq-export: setup ## Write DLQ QUEUE's messages to OUT (default build/dlq-export.jsonl), leaving them
	$(JOBS_CLI) export --queue $(QUEUE) $(if $(OUT),--output $(OUT))

.PHONY: lint
lint: setup ## terraform fmt and validate of every module and env, ruff, module README tables
	$(TERRAFORM) fmt -check -recursive -diff
	@for dir in $(MODULES) $(ENVS); do \
	  echo "validate $$dir"; \
	  $(TERRAFORM) -chdir=$$dir init -backend=false -input=false -no-color >/dev/null; \
	  $(TERRAFORM) -chdir=$$dir validate -no-color >/dev/null; \
	done
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/module_docs.py --check

.PHONY: docs
docs: setup ## Regenerate the inputs/outputs tables of every module README
	$(BIN)/python scripts/module_docs.py

.PHONY: dashboard-doc
dashboard-doc: package ## Regenerate docs/dashboard.md from the dashboard envs/local deploys on the emulator
	UPDATE_DASHBOARD_DOC=1 scripts/with-emulator.sh $(BIN)/pytest tests/integration/test_monitoring.py -k docs

.PHONY: test-unit
test-unit: setup ## Handler and tooling unit tests (moto, no emulator)
	$(BIN)/pytest tests/unit

.PHONY: test-terraform
test-terraform: setup ## Plan-level `terraform test` of every module (mock provider, offline)
	@for dir in $(MODULES); do \
	  if ls $$dir/tests/*.tftest.hcl >/dev/null 2>&1; then \
	    echo "terraform test $$dir"; \
	    $(TERRAFORM) -chdir=$$dir init -backend=false -input=false -no-color >/dev/null; \
	    $(TERRAFORM) -chdir=$$dir test -no-color; \
	  fi; \
	done

.PHONY: test-integration
test-integration: package ## Apply envs/local to the emulator and run the end-to-end tests
	scripts/with-emulator.sh $(BIN)/pytest tests/integration

.PHONY: test
test: lint test-unit test-terraform test-integration ## Everything: lint, unit, terraform and integration tests

.PHONY: clean
clean: ## Remove build output (keeps the virtual environments)
	rm -rf $(BUILD) tests/.pytest_cache
	find . -name .terraform -type d -prune -exec rm -rf {} +
