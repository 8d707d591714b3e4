# breachnotify: build, run locally, test. `make demo` and `make test` set up
# everything they need themselves and are safe to run twice.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
LOCAL     := .local
TOOLS     := $(LOCAL)/tools
BIN       := $(LOCAL)/bin
STACK_DIR := $(LOCAL)/stack
RIE       := $(TOOLS)/aws-lambda-rie
RIE_MOD   := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d
SES_LOCAL := infra/node_modules/aws-ses-v2-local/dist/cli.js
FUNCTIONS := IntakeFunction PlannerFunction WorkerFunction AdminFunction DeadlineWatchFunction FeedbackFunction
LOCALSTACK = $(BIN)/localstack -dir $(STACK_DIR)

# Deployment build flags (house rule 8); SAM passes ARTIFACTS_DIR.
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w"

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---- setup -------------------------------------------------------------------

.PHONY: tools
tools: $(RIE) $(SES_LOCAL) ## install Go modules, the Lambda emulator, the npm packages and chromium
	@$(GO) mod download
	@python3 infra/local/moto_server.py --check || { echo "the local stack needs moto 5.2.1 (with its server) in python3" >&2; exit 1; }
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is missing: it validates template.yaml" >&2; exit 1; }
	@python3 -c 'import samtranslator' 2>/dev/null || { echo "samtranslator is missing: infra/deploy checks the template SAM generates (pip install aws-sam-translator)" >&2; exit 1; }
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (the public page and email checks render in it)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "could not install chromium with apt-get (root and network are needed): install Debian's chromium package" >&2; exit 1; }; }

$(RIE):
	@mkdir -p $(TOOLS)
	GOBIN=$(abspath $(TOOLS)) $(GO) install $(RIE_MOD)

$(SES_LOCAL): infra/package.json infra/package-lock.json
	npm ci --prefix infra --no-audit --no-fund
	@touch $@

# ---- build -------------------------------------------------------------------

# SAM's makefile builder calls build-<LogicalId> with ARTIFACTS_DIR set.
build-%Function:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/$(shell echo '$*' | tr A-Z a-z)

.PHONY: build-local
build-local: ## build the functions for this machine (to run under the emulator) and the local tools
	@for f in $(FUNCTIONS); do \
	  name=$$(echo $${f%Function} | tr A-Z a-z); \
	  CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -o $(BIN)/$$f/bootstrap ./functions/$$name; \
	done
	@$(GO) build -o $(BIN)/localstack ./infra/cmd/localstack
	@$(GO) build -o $(BIN)/seed ./infra/cmd/seed
	@$(GO) build -o $(BIN)/bnadmin ./infra/cmd/bnadmin

# ---- local stack ---------------------------------------------------------------

.PHONY: up down seed invoke trigger outbox admin preflight watch
up: tools build-local ## start the local stack; template parameters as sam deploy takes them: make up PARAMS="AutoSendLimit=2 EmailMaxSendRate=14"
	@$(LOCALSTACK) -params "$${PARAMS:-}" up

down: ## stop the local stack
	@if [ -x $(BIN)/localstack ]; then $(BIN)/localstack -dir $(STACK_DIR) down; fi

seed: up ## import users (JSON Lines or .csv): make seed FILE=infra/seed/demo-users.jsonl [SEED_FLAGS="-checkpoint f -delete"]
	@test -n "$(FILE)" || { echo "usage: make seed FILE=<users.jsonl|users.csv> [SEED_FLAGS=...]" >&2; exit 2; }
	@eval "$$($(LOCALSTACK) env)" && $(BIN)/seed $(SEED_FLAGS) "$(FILE)"

invoke: up ## invoke a function's bootstrap under its emulator: make invoke FUNCTION=IntakeFunction EVENT=events/incident-confirmed.json
	@test -n "$(FUNCTION)" -a -n "$(EVENT)" || { echo "usage: make invoke FUNCTION=<LogicalId> EVENT=<file>" >&2; exit 2; }
	@$(LOCALSTACK) invoke "$(FUNCTION)" "$(EVENT)"

trigger: up ## put an event on the bus as a detector would, wait for the fan-out, print the delivery summary
	@test -n "$(EVENT)" || { echo "usage: make trigger EVENT=<file>" >&2; exit 2; }
	@$(LOCALSTACK) trigger "$(EVENT)"

outbox: ## every notice the local SES and SNS received since `make up`, as JSON Lines
	@$(LOCALSTACK) outbox

admin: up ## an admin operation through the local Function URL (SigV4): make admin ARGS="-incident INC-2014-0527 status -watch"
	@test -n "$(ARGS)" || { echo 'usage: make admin ARGS="-incident <id> <operation> [flags]"' >&2; exit 2; }
	@$(BIN)/bnadmin -local $(STACK_DIR) $(ARGS)

preflight: up ## check SES, the push platform applications and the event bus before the first send
	@$(BIN)/bnadmin -local $(STACK_DIR) preflight

watch: up ## run the deadline watch once, as its schedule would
	@$(LOCALSTACK) invoke DeadlineWatchFunction events/deadlinewatch-schedule.json

.PHONY: demo
demo: tools build-local ## fresh local stack, demo users, a confirmed incident end to end
	@$(BIN)/localstack -dir $(STACK_DIR) down
	@$(LOCALSTACK) up
	@echo; echo "== seeding demo users"
	@eval "$$($(LOCALSTACK) env)" && $(BIN)/seed infra/seed/demo-users.jsonl
	@echo; echo "== a suspected incident (recorded, nothing sent)"
	@$(LOCALSTACK) trigger events/incident-suspected.json
	@echo; echo "== the confirmed incident"
	@$(LOCALSTACK) trigger events/incident-confirmed.json
	@echo; echo "== what the local SES and SNS received ($$($(LOCALSTACK) outbox | wc -l) notices):"
	@$(LOCALSTACK) outbox | python3 -c 'import json,sys; [print("  %-5s %-26s %s" % (m["channel"], m.get("to") or m.get("platform")+":"+m["token"], m.get("subject") or m.get("title"))) for m in map(json.loads, sys.stdin)]'
	@echo; echo "== status, audit chain and evidence export, through the admin Function URL (SigV4-signed)"
	@$(BIN)/bnadmin -local $(STACK_DIR) -incident INC-2014-0527 status
	@$(BIN)/bnadmin -local $(STACK_DIR) -incident INC-2014-0527 verify
	@$(BIN)/bnadmin -local $(STACK_DIR) -incident INC-2014-0527 export
	@echo; echo "== delivery feedback: an incident to the SES mailbox simulator's addresses, a device whose token is refused, and a user with no channel"
	@eval "$$($(LOCALSTACK) env)" && $(BIN)/seed infra/seed/simulator-users.jsonl
	@$(LOCALSTACK) trigger events/incident-feedback.json > /dev/null
	@$(LOCALSTACK) reach INC-2026-1130
	@echo; echo "== the public notice page, published through the admin Function URL"
	@$(BIN)/bnadmin -local $(STACK_DIR) -incident INC-2014-0527 publish -update "We are telling each person affected by email and in the app."
	@echo; $(LOCALSTACK) page INC-2014-0527
	@echo; echo "Read the emails in a browser: $$(python3 -c 'import json; print(json.load(open("$(STACK_DIR)/state.json"))["sesUrl"])')"
	@echo "The stack keeps running for you; stop it with: make down"

# ---- checks --------------------------------------------------------------------

.PHONY: test lint unit
lint: ## gofmt, go vet, cfn-lint: needs only Go and cfn-lint
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is missing: it validates template.yaml" >&2; exit 1; }
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cfn-lint template.yaml

unit: ## the unit tests alone (go test -short): no local stack, no moto
	$(GO) test -short -count=1 ./...

# The end-to-end tests build each function's bootstrap themselves (infra/e2e
# TestMain), so that `go test` alone tests the code as it is; make test builds
# nothing else first.
test: tools lint ## unit tests, integration tests through the real bootstraps against the local stack, and every benchmark once (small sizes)
	BENCH_COHORT_USERS=2000 BENCH_EXPORT_RECIPIENTS=20000 BENCH_SHARE_SECONDS=10 BENCH_IMPORT_USERS=300 $(GO) test -count=1 -timeout 30m -bench . -benchtime 1x ./...

# ---- fuzzing -------------------------------------------------------------------

# Each target runs for FUZZTIME; what it finds is written under the package's
# testdata/fuzz/<Target>/ and replayed by every later `go test` as a
# regression case: commit those files.
FUZZTIME ?= 60s
FUZZ_TARGETS := FuzzHandle:./shared/intake FuzzImport:./infra/seed FuzzParse:./shared/version FuzzRender:./shared/notice FuzzPayload:./shared/aws/push

.PHONY: fuzz
fuzz: ## run each fuzz test for FUZZTIME (default 60s): the event decoder, the user-line parser, the version parser, the notice renderer
	@for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} ($${t#*:}) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}"; \
	done

# ---- benchmarks ------------------------------------------------------------------

BENCH_OUT := $(LOCAL)/bench
.PHONY: bench
bench: tools build-local ## measure: quota efficiency, CPU per recipient, cost, N=1 end to end, planning, export memory, the worker's share at small quotas (writes $(BENCH_OUT)/results.md)
	@mkdir -p $(BENCH_OUT)
	$(GO) run ./infra/cmd/bench -out $(BENCH_OUT)/fleet.md
	@for cmd in \
	  "$(GO) test -run ^$$ -bench ProcessPerRecipient -benchmem -count 3 ./shared/dispatch/" \
	  "$(GO) test -run ^$$ -bench NotifyOneUser -benchtime 20x ./infra/e2e/" \
	  "$(GO) test -run ^$$ -bench PlanCohort -benchtime 1x -timeout 60m ./infra/e2e/" \
	  "env BENCH_IMPORT_USERS=3000 $(GO) test -run ^$$ -bench Import -benchtime 1x -timeout 60m ./infra/e2e/" \
	  "env BENCH_IMPORT_USERS=30000 $(GO) test -run ^$$ -bench Import -benchtime 1x -timeout 60m ./infra/e2e/" \
	  "$(GO) test -run ^$$ -bench Export -benchtime 1x ./infra/bench/" \
	  "env BENCH_SHARE_SECONDS=120 $(GO) test -run ^$$ -bench WorkerShare -benchtime 1x -timeout 30m ./infra/e2e/"; do \
	  echo "== $$cmd" | tee -a $(BENCH_OUT)/go-bench.txt; $$cmd | tee -a $(BENCH_OUT)/go-bench.txt | grep -E '^Benchmark|ok|FAIL'; \
	done
	@{ cat $(BENCH_OUT)/fleet.md; echo; echo '## go test benchmarks'; echo; echo '```'; cat $(BENCH_OUT)/go-bench.txt; echo '```'; } > $(BENCH_OUT)/results.md
	@rm -f $(BENCH_OUT)/go-bench.txt
	@echo "results in $(BENCH_OUT)/results.md"

.PHONY: clean
clean: down ## remove built binaries, tools and local state
	rm -rf $(LOCAL) infra/node_modules
