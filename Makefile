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
# Root modules that show how to call the modules: planned by `make test-terraform`.
EXAMPLES := $(patsubst %/main.tf,%,$(sort $(wildcard examples/*/main.tf)))
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
# A root without a lock file (the modules, the examples) would otherwise install the provider
# into the cache again, replacing the entry other inits and tests are reading under make -j;
# with this it takes the cached one. The envs' committed lock files already hold that provider.
export TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE := true

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/dev.txt requirements/lambda.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements/checkov.txt
	touch $@

BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: requirements/bench.txt requirements/dev.txt requirements/lambda.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/bench.txt
	touch $@

.PHONY: setup
setup: $(VENV)/.installed ## Create .venv with the pinned test dependencies
	@mkdir -p $(TF_PLUGIN_CACHE_DIR)

# The IAM policy evaluation engine the tests run (tests/iam_check): @cloud-copilot/iam-simulate,
# pinned with its dependencies in tests/iam_check/package-lock.json, installed from npm.
IAM_SIMULATE := $(BUILD)/iam-simulate/.installed
$(IAM_SIMULATE): tests/iam_check/package.json tests/iam_check/package-lock.json
	@command -v npm >/dev/null || { echo "the IAM check needs Node.js 20+ and npm (apt install nodejs npm)" >&2; exit 1; }
	mkdir -p $(@D)
	cp tests/iam_check/package.json tests/iam_check/package-lock.json $(@D)/
	cd $(@D) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: iam-simulate
iam-simulate: $(IAM_SIMULATE) ## Install the IAM policy evaluation engine the tests run (npm, pinned)

.PHONY: package
package: setup ## Build the zips into build/lambda with the workloads of envs/$(ENV)/workloads.auto.tfvars.json (or WORKLOADS_FILE), each checked (ARCHITECTURE=arm64 for Graviton)
	$(if $(filter command line,$(origin WORKLOADS)),$(error WORKLOADS= is gone: the workloads an env bundles are in envs/$(ENV)/workloads.auto.tfvars.json (make workload-add ENV=$(ENV) NAME=... PACKAGE=... PROCESS=...)))
	@$(BIN)/python scripts/package.py --build-dir $(BUILD) --architecture $(ARCHITECTURE) \
		$(if $(WORKLOADS_FILE),--workloads-file "$(WORKLOADS_FILE)",--env $(ENV))

.PHONY: up
up: ## Start the embedded emulator (MiniStack) on 127.0.0.1:EMULATOR_PORT (default 4566)
	scripts/emulator.sh up

.PHONY: down
down: ## Stop the emulator started by `make up`
	scripts/emulator.sh down

# dev and prod keep their state in S3 (envs/<env>/backend.hcl). With
# AWS_ENDPOINT_URL set, the whole env (state included) goes to that emulator.
BACKEND_HCL := $(wildcard envs/$(ENV)/backend.hcl)
EMULATOR_BACKEND := $(abspath $(BUILD))/backend-emulator-$(ENV).hcl
# Each kind of use of an env has its own Terraform data dir, so an emulator
# init never re-targets the backend of a real one, and offline validation
# never touches either.
TF_DATA := $(abspath $(BUILD))/terraform-data
ifdef AWS_ENDPOINT_URL
export TF_VAR_aws_endpoint_url ?= $(AWS_ENDPOINT_URL)
TF_ENV = TF_DATA_DIR=$(TF_DATA)/$(ENV)-emulator TF_VAR_architecture=$(ARCHITECTURE) $(TERRAFORM) -chdir=envs/$(ENV)
else
TF_ENV = TF_VAR_architecture=$(ARCHITECTURE) $(TERRAFORM) -chdir=envs/$(ENV)
endif
TF_OFFLINE = TF_DATA_DIR=$(TF_DATA)/offline/$$dir $(TERRAFORM) -chdir=$$dir

# envs/local is the stack `make demo` deploys, on the emulator at EMULATOR_PORT:
# plan, apply and destroy ENV=local act on that one state, never on an empty one.
EMULATOR_PORT ?= 4566
# The functions' instruction set: `make package` builds for it, the envs deploy it.
ARCHITECTURE ?= x86_64
ifeq ($(ENV),local)
LOCAL_NAME ?= sp-demo
LOCAL_STATE ?= $(abspath $(BUILD))/demo/terraform.tfstate
LOCAL_TF_DATA ?= $(abspath $(BUILD))/demo/tfdata
# What the job commands read; scripts/demo.py writes the same file (ops/serverless_patterns_ops/local_stack.py).
LOCAL_OUTPUTS ?= $(abspath $(BUILD))/demo/outputs.json
LOCAL_ENDPOINT = $(or $(AWS_ENDPOINT_URL),http://127.0.0.1:$(EMULATOR_PORT))
TF_ENV = TF_DATA_DIR=$(LOCAL_TF_DATA) TF_VAR_name=$(LOCAL_NAME) TF_VAR_aws_endpoint_url=$(LOCAL_ENDPOINT) TF_VAR_architecture=$(ARCHITECTURE) $(TERRAFORM) -chdir=envs/local
TF_STATE = -state=$(LOCAL_STATE)
endif

.PHONY: init
init: setup ## terraform init of envs/$(ENV), with its S3 backend for dev and prod
ifeq ($(BACKEND_HCL),)
	$(TF_ENV) init -input=false -lockfile=readonly -no-color >/dev/null
else ifdef AWS_ENDPOINT_URL
	$(BIN)/python scripts/tf_backend.py emulator envs/$(ENV) $(EMULATOR_BACKEND)
	$(TF_ENV) init -input=false -lockfile=readonly -reconfigure -no-color \
	  -backend-config=backend.hcl -backend-config=$(EMULATOR_BACKEND) >/dev/null
else
	$(TF_ENV) init -input=false -lockfile=readonly -reconfigure -no-color \
	  -backend-config=backend.hcl >/dev/null
endif

.PHONY: state-bucket
state-bucket: setup ## Create the S3 state bucket of envs/$(ENV) (dev/prod; once per account)
	$(BIN)/python scripts/tf_backend.py bucket envs/$(ENV)

.PHONY: validate
validate: setup ## Validate envs/$(ENV) (offline: no backend, no AWS credentials)
	@dir=envs/$(ENV); $(TF_OFFLINE) init -backend=false -input=false -lockfile=readonly -no-color >/dev/null
	@dir=envs/$(ENV); $(TF_OFFLINE) validate -no-color

.PHONY: plan
plan: package validate init ## Package, validate and plan envs/$(ENV) (dev/prod: AWS credentials, or AWS_ENDPOINT_URL for an emulator)
	$(if $(filter local,$(ENV)),scripts/emulator.sh up)
	$(TF_ENV) plan -input=false $(TF_STATE)

.PHONY: plan-on-emulator
plan-on-emulator: ## Plan envs/$(ENV) against the embedded emulator (started if needed): no AWS account needed
	scripts/with-emulator.sh $(MAKE) --no-print-directory plan ENV=$(ENV)

.PHONY: apply
apply: package init ## Package and apply envs/$(ENV) (local: starts the emulator first, and writes build/demo/outputs.json for the job commands)
	$(if $(filter local,$(ENV)),scripts/emulator.sh up)
	$(TF_ENV) apply -input=false -auto-approve $(TF_STATE)
ifeq ($(ENV),local)
	@mkdir -p $(dir $(LOCAL_OUTPUTS)) && $(TF_ENV) output -json $(TF_STATE) > $(LOCAL_OUTPUTS).tmp && mv $(LOCAL_OUTPUTS).tmp $(LOCAL_OUTPUTS)
	@echo "outputs in $(LOCAL_OUTPUTS) (the job commands read them)"
endif

.PHONY: destroy
destroy: init ## Destroy envs/$(ENV)
	$(TF_ENV) destroy -input=false -auto-approve $(TF_STATE)

.PHONY: demo
# The demo deploys envs/local, so it packages envs/local's workloads whatever ENV says.
demo: override ENV = local
demo: package ## Run a 1,200-subtask fan-out job and a load-leveling burst end to end on the emulator (envs/local)
	scripts/with-emulator.sh $(BIN)/python scripts/demo.py

# The workloads of envs/$(ENV): envs/$(ENV)/workloads.auto.tfvars.json, which
# Terraform loads and `make package` bundles and checks.
WORKLOADS_CLI = $(BIN)/python scripts/workloads.py
workload_var_required = $(if $(strip $($(1))),,$(error $(1) is required: make $@ $(1)=$(2)))

.PHONY: workloads workload-add workload-remove
workloads: setup ## List the workloads of envs/$(ENV)
	@$(WORKLOADS_CLI) list --env "$(ENV)"

workload-add: setup ## Add or replace workload NAME of envs/$(ENV): PACKAGE=/path/to/pkg PROCESS=pkg.mod:fn READS="records" [MERGE=pkg.mod:fn] [RESUMABLE=1]
	$(call workload_var_required,NAME,my_workload)
	$(call workload_var_required,PROCESS,my_pkg.workload:process)
	$(call workload_var_required,READS,records)
	@$(WORKLOADS_CLI) add --env "$(ENV)" --name "$(NAME)" --process "$(PROCESS)" $(if $(PACKAGE),--package "$(PACKAGE)") \
		$(if $(MERGE),--merge "$(MERGE)") $(if $(READS),--reads "$(READS)") $(if $(filter-out 0,$(RESUMABLE)),--resumable)

workload-remove: setup ## Remove workload NAME from envs/$(ENV)
	$(call workload_var_required,NAME,my_workload)
	@$(WORKLOADS_CLI) remove --env "$(ENV)" --name "$(NAME)"

# The job commands act on the stack `make demo` (or `make up` + `make demo`) deployed.
# API=1: submit, status and cancel through its job API instead of direct invokes.
# They run the CLI from the checkout (the installed `serverless-patterns` is the same tool), silently:
# what they print is the CLI's.
JOBS_CLI = PYTHONPATH=lambdas:ops$${PYTHONPATH:+:$$PYTHONPATH} $(if $(LOCAL_OUTPUTS),SERVERLESS_PATTERNS_OUTPUTS=$${SERVERLESS_PATTERNS_OUTPUTS:-$(LOCAL_OUTPUTS)}) AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-test} AWS_ENDPOINT_URL=$${AWS_ENDPOINT_URL:-$$(scripts/emulator.sh url)} $(BIN)/python -m serverless_patterns_ops $(if $(API),--api)
# A job that ended PARTIAL (the CLI's exit code 3) or CANCELLED (5) is an outcome the CLI has printed,
# not a failure of make: 0 here, and only here (`serverless-patterns --help` lists the CLI's codes).
JOB_OUTCOME = || { rc=$$?; [ $$rc -eq 3 ] || [ $$rc -eq 5 ] || exit $$rc; }
JOB_RESULTS ?= build/results

# A job target asked for without its variable stops before anything runs, with one line naming it.
require = $(if $(filter $(1),$(MAKECMDGOALS)),$(if $(strip $($(2))),,$(error $(2) is required: make $(1) $(2)=$(3))))
$(foreach target,job-submit job-local,$(if $(filter $(target),$(MAKECMDGOALS)),$(if $(strip $(FILE)$(SPEC)),,$(error FILE is required: make $(target) FILE=path (or SPEC=spec.json)))))
$(call require,job-upload,FILE,path)
$(foreach target,job-status job-result job-download job-cancel job-redrive,$(call require,$(target),JOB,<job id>))
$(foreach target,redrive dlq-export,$(call require,$(target),QUEUE,<dead-letter queue name or URL>))

.PHONY: job-upload
job-upload: setup ## Upload FILE (a folder: as an objects prefix) under inputs/ and print the job spec's source for it (TYPE optional)
	@$(JOBS_CLI) upload "$(FILE)" $(if $(TYPE),--type "$(TYPE)")

.PHONY: job-submit
job-submit: setup ## Submit FILE (a file or folder, or SPEC=spec.json) as a fan-out job and follow it (TYPE, CHUNK_SIZE, ITEMS, WORKLOAD, JOB=<job id> optional)
	@$(JOBS_CLI) submit $(if $(SPEC),--spec "$(SPEC)","$(FILE)") $(if $(TYPE),--type "$(TYPE)") \
		$(if $(CHUNK_SIZE),--chunk-size "$(CHUNK_SIZE)") $(if $(ITEMS),--items-per-subtask "$(ITEMS)") \
		$(if $(WORKLOAD),--workload "$(WORKLOAD)") $(if $(JOB),--job-id "$(JOB)") $(JOB_OUTCOME)

.PHONY: job-local
job-local: setup ## Run FILE (or SPEC=spec.json) here, before deploying: the workloads of envs/$(ENV), results under build/local (TO=dir)
	@$(JOBS_CLI) run-local $(if $(SPEC),"$(SPEC)","$(FILE)") $(if $(TYPE),--type "$(TYPE)") \
		$(if $(CHUNK_SIZE),--chunk-size "$(CHUNK_SIZE)") $(if $(ITEMS),--items-per-subtask "$(ITEMS)") \
		$(if $(WORKLOAD),--workload "$(WORKLOAD)") $(if $(JOB),--job-id "$(JOB)") \
		--workloads envs/$(ENV)/workloads.auto.tfvars.json --output "$(or $(TO),build/local)" $(JOB_OUTCOME)

.PHONY: job-cancel
job-cancel: setup ## Cancel job JOB: running subtasks finish, the rest is skipped
	@$(JOBS_CLI) cancel "$(JOB)"

.PHONY: job-redrive
job-redrive: setup ## Run the failed and skipped subtasks of job JOB again, and follow it
	@$(JOBS_CLI) redrive-job "$(JOB)" $(JOB_OUTCOME)

.PHONY: job-status
job-status: setup ## Follow job JOB to its end
	@$(JOBS_CLI) status "$(JOB)" --watch $(JOB_OUTCOME)

.PHONY: job-result
job-result: setup ## Print the consolidated result of job JOB
	@$(JOBS_CLI) result "$(JOB)"

.PHONY: job-download
job-download: setup ## Write job JOB's manifest, succeeded/failed records and result into TO (default build/results/JOB)
	@$(JOBS_CLI) download "$(JOB)" --to "$(or $(TO),$(JOB_RESULTS)/$(strip $(JOB)))"

.PHONY: jobs
jobs: setup ## List the jobs of the demo stack
	@$(JOBS_CLI) list

.PHONY: redrive
redrive: setup ## Move DLQ QUEUE's messages back to their source (RATE=msgs/s, DRY_RUN=1 optional)
	@$(JOBS_CLI) redrive --queue "$(QUEUE)" $(if $(RATE),--max-per-second "$(RATE)") $(if $(DRY_RUN),--dry-run)

.PHONY: dlq-export
dlq-export: setup ## Write DLQ QUEUE's messages to OUT (default build/dlq-export.jsonl), leaving them
	@$(JOBS_CLI) export --queue "$(QUEUE)" $(if $(OUT),--output "$(OUT)")

# .pre-commit-config.yaml runs the same parts, one hook each (tests/unit/test_repository.py checks it).
LINT_PARTS := lint-terraform lint-python lint-docs lint-inputs checkov
.PHONY: lint $(LINT_PARTS)
lint: $(LINT_PARTS) ## terraform fmt and validate of every module and env, ruff, module README tables, shared inputs, checkov
	$(PART_DONE)

# One target per Terraform root, so `make -j` validates and tests them side by side:
# validate/<dir> inits <dir> offline once, and tftest/<dir> runs its `terraform test` in that init.
TF_ROOTS := $(MODULES) $(ENVS) envs/shared $(EXAMPLES)
TF_TESTED := $(foreach dir,$(TF_ROOTS),$(if $(wildcard $(dir)/tests/*.tftest.hcl),$(dir)))
VALIDATE_ROOTS := $(addprefix validate/,$(TF_ROOTS))
TEST_ROOTS := $(addprefix tftest/,$(TF_TESTED))
.PHONY: $(VALIDATE_ROOTS) $(TEST_ROOTS)
# Terraform's plugin cache is not safe for concurrent installs: one init fills it before the parallel ones.
TF_PLUGINS_READY := $(TF_PLUGIN_CACHE_DIR)/.ready
$(TF_PLUGINS_READY): envs/local/.terraform.lock.hcl | setup
	@dir=envs/local; $(TF_OFFLINE) init -backend=false -input=false -lockfile=readonly -no-color >/dev/null
	@touch $@

$(VALIDATE_ROOTS): validate/%: setup $(TF_PLUGINS_READY)
	@dir=$*; $(TF_OFFLINE) init -backend=false -input=false -no-color >/dev/null && $(TF_OFFLINE) validate -no-color >/dev/null
	@echo "validate $*"

$(TEST_ROOTS): tftest/%: validate/% package
	@echo "terraform test $*"
	@dir=$*; $(TF_OFFLINE) test -no-color

lint-terraform: setup $(VALIDATE_ROOTS) ## terraform fmt and validate of every module and env
	$(TERRAFORM) fmt -check -recursive -diff

lint-python: setup ## ruff check and format, Python blocks of the Markdown files included
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint-docs: setup ## the inputs/outputs tables of every module README, and the fan_out README's job spec tables, match the code
	$(BIN)/python scripts/module_docs.py --check
	$(BIN)/python scripts/spec_docs.py --check

lint-inputs: setup ## the inputs every module repeats match scripts/shared_variables.tf
	$(BIN)/python scripts/shared_variables.py --check

# Checks skipped everywhere are listed with their reasons in .checkov.yaml.
# local and dev also skip point-in-time recovery of DynamoDB (CKV_AWS_28): it
# is a prod setting (data_protection in envs/*/terraform.tfvars).
CHECKOV = $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --output cli --skip-download
# --skip-check replaces the config's list rather than adding to it.
CHECKOV_SKIPS := $(shell grep -o '^  - CKV[0-9A-Z_]*' .checkov.yaml | tr -d ' -' | paste -sd, -)
checkov: $(CHECKOV_VENV)/.installed ## Static security analysis of every module and env (checkov)
	$(CHECKOV) --directory modules
	$(CHECKOV) --directory envs/prod
	@for env in $(filter-out envs/prod,$(ENVS)); do \
	  $(CHECKOV) --directory $$env --skip-check $(CHECKOV_SKIPS),CKV_AWS_28; \
	done

.PHONY: docs inputs
docs: setup ## Regenerate the inputs/outputs tables of every module README and the fan_out job spec tables
	$(BIN)/python scripts/module_docs.py
	$(BIN)/python scripts/spec_docs.py

inputs: setup ## Rewrite the inputs every module repeats from scripts/shared_variables.tf (then `make docs`)
	$(BIN)/python scripts/shared_variables.py

.PHONY: dashboard-doc
dashboard-doc: package ## Regenerate docs/dashboard.md from the dashboard envs/local deploys on the emulator
	UPDATE_DASHBOARD_DOC=1 scripts/with-emulator.sh $(BIN)/pytest tests/integration/test_monitoring.py -k docs

# `make test` and `make test-fast` run their parts side by side (make -j), each part's output printed
# whole when it ends; the unit tests spread over the cores (pytest-xdist), and the integration test
# files run three at a time, each worker on a stack of its own (README, "Testing"). The tests run
# make themselves as a user would: without this make's flags and jobserver.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 2 ? 2 : n )))
UNIT_WORKERS ?= auto
# LocalStack in Docker runs each stack's functions in containers: one stack at a time there.
INTEGRATION_WORKERS ?= $(if $(filter localstack,$(EMULATOR)),1,3)
# --keep-going: a failing part does not keep the others from running and reporting.
PARALLEL = $(MAKE) --no-print-directory -j$(JOBS) --output-sync=target --keep-going TEST_STARTED=$$(date +%s)
# Run side by side, each part says when it ended (the README's "Testing" quotes them).
PART_DONE = $(if $(TEST_STARTED),@echo "$@ ended $$(( $$(date +%s) - $(TEST_STARTED) )) s after the start")
WITHOUT_MAKE_FLAGS = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL

.PHONY: test-unit
test-unit: setup $(IAM_SIMULATE) ## Handler and tooling unit tests (moto, no emulator)
	$(WITHOUT_MAKE_FLAGS) $(BIN)/pytest tests/unit -n $(UNIT_WORKERS) --dist loadfile
	$(PART_DONE)

.PHONY: test-terraform
test-terraform: $(TEST_ROOTS) ## Plan-level `terraform test` of every module, envs/shared and the examples (mock provider, offline)
	$(PART_DONE)

.PHONY: test-integration
test-integration: package $(TF_PLUGINS_READY) $(IAM_SIMULATE) ## Apply envs/local to the emulator, run the end-to-end tests, then evaluate every AWS call they made against the stacks' IAM policies
	rm -rf $(BUILD)/iam
	$(WITHOUT_MAKE_FLAGS) scripts/with-emulator.sh $(BIN)/pytest tests/integration -n $(INTEGRATION_WORKERS) --dist loadfile
	$(WITHOUT_MAKE_FLAGS) $(BIN)/pytest tests/iam_eval
	$(PART_DONE)

.PHONY: test
test: ## Everything: lint, unit, terraform and integration tests, side by side
	@$(PARALLEL) test-integration lint test-unit test-terraform

.PHONY: test-fast
test-fast: ## The quick loop before a commit: lint without checkov, unit and `terraform test`, side by side (no emulator)
	@$(PARALLEL) lint-terraform lint-python lint-docs lint-inputs test-unit test-terraform

# LocalStack runs Lambda code only in Docker, and its Community edition has no
# HTTP APIs: the tests that need either are marked lambda_runtime or http_api
# and left out here (README, "Emulators").
.PHONY: test-localstack
test-localstack: package ## Apply envs/local to LocalStack run without Docker and run the integration tests that need no function to run
	scripts/with-localstack.sh $(BIN)/pytest tests/integration -m "not lambda_runtime and not http_api"

.PHONY: localstack-up localstack-down
localstack-up: ## Start LocalStack on 127.0.0.1:LOCALSTACK_PORT (default 4567) without Docker
	scripts/localstack.sh up

localstack-down: ## Stop the LocalStack started by `make localstack-up`
	scripts/localstack.sh down

BENCH ?= dispatch dispatch_parts tracker end_to_end load_leveling cold_start infra_loop consolidation local_run scale
.PHONY: bench
bench: package $(BENCH_VENV)/.installed ## Run the benchmarks (not part of `make test`) and rewrite docs/benchmarks.md
	PYTHONPATH=lambdas:ops:tests:. scripts/with-emulator.sh $(BENCH_VENV)/bin/python -m bench --only $(BENCH)

.PHONY: clean
clean: ## Remove build output (keeps the virtual environments)
	rm -rf $(BUILD) tests/.pytest_cache
	find . -name .terraform -type d -prune -exec rm -rf {} +
