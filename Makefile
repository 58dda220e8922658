# skipserve — top-level build. Everything is built out of tree into $(BUILD).
#   make            build libraries, server, CLI tools and tests
#   make test       install missing packages, build, run every test
#   make run        install missing packages, build, serve ./models on :8080
#   make test-conformance / test-zoo / bench / clean
BUILD ?= build
CC ?= cc
OPT ?= -O2
CFLAGS_BASE := -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-I. -Iengine -I$(BUILD)/gen -pthread $(EXTRA_CFLAGS)
LDLIBS_BASE := -lm -pthread
SAN ?=
ifneq ($(SAN),)
CFLAGS_BASE += -fsanitize=$(SAN) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SAN)
endif

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
PKGS_LOADERS := libprotobuf-c libpng libturbojpeg
PKGS_SERVER := libmicrohttpd jansson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS_LOADERS) $(PKGS_SERVER) 2>/dev/null)
PKG_LIBS_LOADERS = $(shell pkg-config --libs $(PKGS_LOADERS) 2>/dev/null)
PKG_LIBS_SERVER = $(shell pkg-config --libs $(PKGS_SERVER) 2>/dev/null)

# --- sources ---------------------------------------------------------------
ENGINE_SRCS := $(wildcard engine/*.c engine/kernels/ref/*.c engine/kernels/*.c engine/passes/*.c)
# Per-ISA kernels get per-file flags so one binary runs on any x86-64.
ENGINE_AVX2_SRCS := $(wildcard engine/kernels/avx2/*.c)
ENGINE_AVX512_SRCS := $(wildcard engine/kernels/avx512/*.c engine/kernels/amx/*.c)
ifeq ($(filter x86_64 amd64,$(shell uname -m)),)
# elsewhere (arm64, ...) only the scalar kernels are built; engine/cpu.c
# reports the scalar level there
ENGINE_AVX2_SRCS :=
ENGINE_AVX512_SRCS :=
endif
LOADER_SRCS := $(wildcard loaders/*.c)
SERVER_SRCS := $(wildcard server/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

GEN_C := $(BUILD)/gen/onnx.pb-c.c
GEN_H := $(BUILD)/gen/onnx.pb-c.h

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
ENGINE_OBJS := $(call obj,$(ENGINE_SRCS) $(ENGINE_AVX2_SRCS) $(ENGINE_AVX512_SRCS))
LOADER_OBJS := $(call obj,$(LOADER_SRCS)) $(BUILD)/obj/gen/onnx.pb-c.o
SERVER_OBJS := $(call obj,$(SERVER_SRCS)) $(BUILD)/obj/server/ui_assets.o

LIB_ENGINE := $(BUILD)/libskengine.a
LIB_LOADERS := $(BUILD)/libskloaders.a
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

BINS := $(BUILD)/skipserve-run $(BUILD)/skipserve-conformance $(BUILD)/skipserve-eval
ifneq ($(wildcard server/main.c),)
BINS += $(BUILD)/skipserve
endif
ifneq ($(wildcard tools/bench.c),)
BINS += $(BUILD)/skipserve-bench $(BUILD)/skipserve-gemm-bench $(BUILD)/skipserve-load
endif
ifneq ($(wildcard tools/quantize.c),)
BINS += $(BUILD)/skipserve-quantize
endif
ifneq ($(ENGINE_AVX2_SRCS),)
BINS += $(BUILD)/cpuid_avx2.so
# test_cpuid_avx2 runs the library (beside $(BUILD)/tests/) in its children
$(BUILD)/tests/test_cpuid_avx2: | $(BUILD)/cpuid_avx2.so
endif
# the AVX-512 tile variants of skipserve-gemm-bench (x86-64 only)
GEMM_BENCH_UK := $(if $(ENGINE_AVX512_SRCS),$(BUILD)/obj/tools/gemm_uk_variants__avx512f.o)

.PHONY: test-quant
.PHONY: all deps deps-torch deps-ort test test-unit test-conformance test-bad-models test-e2e test-models test-zoo \
	test-docker test-ui check-arm64 test-fuzz fuzz load test-scale test-k8s soak \
	run bench clean
all: $(BINS) $(UNIT_BINS)

# --- rules -------------------------------------------------------------------
$(GEN_C) $(GEN_H): $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen --proto_path=$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

# The generated code is not ours: compile it without -Werror.
$(BUILD)/obj/gen/onnx.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) -g -I$(BUILD)/gen $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/obj/engine/kernels/avx2/%.o: engine/kernels/avx2/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -MMD -MP -c $< -o $@

$(BUILD)/obj/engine/kernels/avx512/%.o: engine/kernels/avx512/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -MMD -MP -c $< -o $@

# BF16 kernels: the AVX-512 flags plus AVX512-BF16 (called only when the CPU
# has it, engine/kernels/config.c). The shorter stem wins over the rule above.
$(BUILD)/obj/engine/kernels/avx512/%__avx512bf16.o: engine/kernels/avx512/%__avx512bf16.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -MMD -MP -c $< -o $@

# AMX files (session 19): tile loads / stores and TDPBF16PS, with AVX-512
# (the epilogue) and AVX512-BF16; AMX-INT8 (session 19 ami: TDPBUSD); called
# only when the CPU has AMX-BF16 / AMX-INT8 and
# the OS granted the tile state (engine/cpu.c, engine/kernels/config.c).
$(BUILD)/obj/engine/kernels/amx/%__amx.o: engine/kernels/amx/%__amx.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512bf16 -mamx-tile -mamx-bf16 -mamx-int8 -MMD -MP -c $< -o $@

# AVX512-VNNI and AVX-VNNI files: the int8 GEMM microkernels (qgemm.h) and
# ceiling loops (peak_lowp.h); called only when the CPU has them.
$(BUILD)/obj/engine/kernels/avx512/%__avx512vnni.o: engine/kernels/avx512/%__avx512vnni.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni -MMD -MP -c $< -o $@

$(BUILD)/obj/engine/kernels/avx2/%__avxvnni.o: engine/kernels/avx2/%__avxvnni.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavxvnni -MMD -MP -c $< -o $@

$(BUILD)/obj/tools/gemm_uk_variants__avx512f.o: tools/gemm_uk_variants__avx512f.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -MMD -MP -c $< -o $@

# The demo page's files, embedded with .incbin (server/ui_assets.S).
$(BUILD)/obj/server/ui_assets.o: server/ui_assets.S $(wildcard server/ui/*)
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(LIB_ENGINE): $(ENGINE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(LIB_LOADERS): $(LOADER_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/skipserve-run: $(BUILD)/obj/tools/run_cli.o $(LIB_LOADERS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_LOADERS) $(LDLIBS_BASE)

$(BUILD)/skipserve-conformance: $(BUILD)/obj/tests/conformance/runner.o $(LIB_LOADERS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_LOADERS) $(LDLIBS_BASE)

$(BUILD)/skipserve-eval: $(BUILD)/obj/tests/models/eval.o $(LIB_LOADERS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_LOADERS) $(LDLIBS_BASE)

$(BUILD)/skipserve: $(SERVER_OBJS) $(LIB_LOADERS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_SERVER) $(PKG_LIBS_LOADERS) $(LDLIBS_BASE)

$(BUILD)/skipserve-bench: $(BUILD)/obj/tools/bench.o $(LIB_LOADERS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_LOADERS) $(LDLIBS_BASE)

# skipserve-quantize reads model.json with jansson (as the server does)
$(BUILD)/skipserve-quantize: $(call obj,tools/quantize.c tools/quantize_calib.c tools/quantize_qdq.c) \
		$(LIB_LOADERS) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_LOADERS) $(shell pkg-config --libs jansson 2>/dev/null) $(LDLIBS_BASE)

# bench/cpuid_avx2.c: LD_PRELOAD library presenting an AVX2 + FMA CPU (CPUID
# faulting, x86-64 Linux): both sides of `bench/compare-ort.sh --cpu avx2`
$(BUILD)/cpuid_avx2.so: bench/cpuid_avx2.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

$(BUILD)/skipserve-load: $(BUILD)/obj/tools/loadgen.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_BASE)

$(BUILD)/skipserve-gemm-bench: $(BUILD)/obj/tools/gemm_bench.o $(GEMM_BENCH_UK) $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_BASE)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB_LOADERS) $(LIB_ENGINE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_LOADERS) -lcmocka $(LDLIBS_BASE)
# keep the unit tests' objects: as intermediates of the pattern above make
# deleted them after each link, so the next build recompiled every test
.SECONDARY: $(patsubst tests/unit/%.c,$(BUILD)/obj/tests/unit/%.o,$(UNIT_SRCS))

# test_qgemm also runs the VNNI microkernels with vpdpbusd emulated
# (tests/unit/qgemm_emu.h): compiled without the VNNI flags, x86-64 only
ifneq ($(ENGINE_AVX512_SRCS),)
QGEMM_EMU_OBJS := $(BUILD)/obj/tests/unit/qgemm_emu__avx512bw.o $(BUILD)/obj/tests/unit/qgemm_emu__avx2.o
$(BUILD)/tests/test_qgemm: $(QGEMM_EMU_OBJS)
$(BUILD)/obj/tests/unit/qgemm_emu__avx512bw.o: tests/unit/qgemm_emu__avx512bw.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -mavx512f -mavx512bw -mavx512vl -MMD -MP -c $< -o $@
$(BUILD)/obj/tests/unit/qgemm_emu__avx2.o: tests/unit/qgemm_emu__avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -mavx2 -mfma -MMD -MP -c $< -o $@
endif

# the KServe body parser's test compiles server sources that use jansson
$(BUILD)/tests/test_kserve_binary: PKG_LIBS_LOADERS += -ljansson

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- set-up ------------------------------------------------------------------
# Debian packages the build and tests need; installed when missing (as root),
# else the exact apt-get command is printed.
DEB_PKGS := build-essential pkg-config curl libmicrohttpd-dev libjansson-dev libpng-dev \
	libturbojpeg0-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata \
	libcmocka-dev dataset-fashion-mnist valgrind python3-onnx python3-numpy python3-pil openssl
DEB_PKGS_TORCH := python3-torch python3-torchvision python3-onnx python3-numpy python3-pil
# onnxruntime-node (npm, into bench/.ort/) is the oracle of test-zoo's FP16/INT8 half
# node and npm only when missing: nodesource's nodejs carries its own npm
# and conflicts with Debian's npm package
DEB_PKGS_ORT := python3-onnx python3-numpy
# load, test-scale, test-k8s (kubernetes-client too when no kubectl is on the PATH)
DEB_PKGS_LOAD := curl wrk nginx python3-yaml python3-kubernetes
deps:
	@sh tests/deps.sh $(DEB_PKGS)
deps-torch:
	@sh tests/deps.sh $(DEB_PKGS_TORCH)
deps-ort:
	@sh tests/deps.sh $(DEB_PKGS_ORT)
	@command -v node >/dev/null || sh tests/deps.sh nodejs
	@command -v npm >/dev/null || sh tests/deps.sh npm

# --- tests -------------------------------------------------------------------
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test-unit test-conformance test-bad-models test-e2e test-models \
		test-k8s test-scale test-quant

test-unit: $(UNIT_BINS)
	@sh tests/run_unit.sh $(UNIT_BINS)
	@# session 19: where the CPU has AMX-BF16 the BF16 convs run the AMX
	@# kernel by default; the conv suite again on the vdpbf16ps kernels
	@# (pixel rows, their input runs) — only there: on other CPUs the run
	@# would repeat the one above
	@if grep -qw amx_bf16 /proc/cpuinfo 2>/dev/null; then \
		echo "test_fast_conv at SKIPSERVE_BF16_UK=avx512bf16:"; \
		SKIPSERVE_BF16_UK=avx512bf16 $(BUILD)/tests/test_fast_conv > $(BUILD)/test_fast_conv-bf16uk.log 2>&1 || \
		{ cat $(BUILD)/test_fast_conv-bf16uk.log; exit 1; }; tail -n 1 $(BUILD)/test_fast_conv-bf16uk.log; \
	else echo "test_fast_conv at SKIPSERVE_BF16_UK=avx512bf16: skipped (no AMX-BF16)"; fi
	@# test_qdwconv again without the NHWC int8 convs (the AVX2 int8 GEMM forced,
	@# the NHWC path off): the QDQ dw conv still goes int8 (session 18: the
	@# rewrite no longer depends on the level), its edges transposed (~0.5 s)
	@SKIPSERVE_INT8_UK=avx2 SKIPSERVE_INT8_NHWC=0 $(BUILD)/tests/test_qdwconv
	@# session 18: the int8 suites at the AVX2-without-VNNI config (the exact
	@# int16 NHWC kernel, the vpmaddubsw one where weight pairs fit, the
	@# channels-last region around them) on any host (~6 s)
	@for t in test_qconv test_qdwconv test_qconvt_nhwc test_qresize test_qconv_dequant test_qint8_ops; do \
		echo "$$t at SKIPSERVE_INT8_UK=avx2:"; \
		SKIPSERVE_INT8_UK=avx2 $(BUILD)/tests/$$t > $(BUILD)/$$t-avx2.log 2>&1 || \
		{ cat $(BUILD)/$$t-avx2.log; exit 1; }; tail -n 1 $(BUILD)/$$t-avx2.log; done

# The node tests, then the older opset forms (generated, with numpy
# references) and the IR-3 PyTorch-converted models: all must pass.
# Each ISA level runs the same list (a level above the CPU's falls back).
test-conformance: $(BUILD)/skipserve-conformance
	$(BUILD)/skipserve-conformance --expected tests/conformance/expected_pass.txt \
		/usr/share/libonnx-testdata/data/node
	@for isa in scalar avx2 avx512; do \
		echo "conformance at SKIPSERVE_ISA=$$isa, 2 threads:"; \
		SKIPSERVE_ISA=$$isa $(BUILD)/skipserve-conformance --threads 2 \
		--expected tests/conformance/expected_pass.txt /usr/share/libonnx-testdata/data/node \
		> $(BUILD)/conformance-$$isa.log || { cat $(BUILD)/conformance-$$isa.log; exit 1; }; \
		tail -n 1 $(BUILD)/conformance-$$isa.log; done
	rm -rf $(BUILD)/old_opsets && /usr/bin/python3 tests/conformance/make_old_opsets.py \
		$(BUILD)/old_opsets >/dev/null && \
		rm -rf $(BUILD)/lowp $(BUILD)/quant && \
		/usr/bin/python3 tests/conformance/make_lowp.py $(BUILD)/lowp && \
		/usr/bin/python3 tests/conformance/make_quant.py $(BUILD)/quant && \
		$(BUILD)/skipserve-conformance --all-must-pass $(BUILD)/old_opsets $(BUILD)/lowp \
		$(BUILD)/quant \
		/usr/share/libonnx-testdata/data/pytorch-converted

# Malformed models: one clear error line, no crash, no leak (valgrind).
test-bad-models: $(BUILD)/skipserve-run
	BUILD=$(BUILD) NO_VALGRIND=$(SAN) sh tests/bad_models/run.sh

# run.sh is the main battery; each tests/e2e/suite_*.sh is one more suite
# (sourcing tests/e2e/lib.sh), run in name order.
test-e2e: all
	@if [ -f tests/e2e/run.sh ]; then BUILD=$(BUILD) sh tests/e2e/run.sh; fi
	@for s in $(sort $(wildcard tests/e2e/suite_*.sh)); do \
		echo "e2e suite $$s:"; BUILD=$(BUILD) bash $$s || exit 1; done

test-models: all
	@if [ -f tests/models/run.sh ]; then BUILD=$(BUILD) sh tests/models/run.sh; fi

# FP32 / INT8 / BF16 accuracy of the default models on their full test sets
# (models/accuracy.sh; not in CI, ~10 min)
.PHONY: accuracy
accuracy: all
	BUILD=$(BUILD) sh models/accuracy.sh

# skipserve-quantize on the default models vs onnxruntime and FP32 (tests/quant/)
test-quant: deps-ort all
	BUILD=$(BUILD) sh tests/quant/run.sh

test-zoo: deps deps-torch deps-ort
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) sh tests/zoo/run_lowp.sh
	BUILD=$(BUILD) sh tests/zoo/run.sh
	@# two torchvision exports in the five low-precision forms against onnxruntime
	@# (a bounded subset for CI's time; LOWP_ZOO=... lowp_models.py runs any)
	BUILD=$(BUILD) LOWP_ONLY= LOWP_ZOO="resnet18-op13 mobilenet_v2-op13" \
		/usr/bin/python3 tests/zoo/lowp_models.py $(BUILD)/lowp-zoo/zoo

# The scalar build on arm64: the engine sources a non-x86 machine builds
# (ENGINE_SRCS), with the project's flags, cross-compiled and run under qemu.
check-arm64:
	@sh tests/deps.sh gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
	BUILD=$(BUILD) ARM_CFLAGS='$(CFLAGS_BASE)' ARM_SRCS='$(ENGINE_SRCS)' sh tests/arm64/check.sh

# libFuzzer targets (tests/fuzz/): test-fuzz replays every seed and saved
# regression once (deterministic, in CI); `make fuzz FUZZ=onnx SECS=600`
# fuzzes. Sanitized clang build in $(BUILD_FUZZ).
BUILD_FUZZ ?= build-fuzz
FUZZ ?= all
SECS ?= 60
test-fuzz: deps
	@sh tests/deps.sh clang libclang-rt-dev
	BUILD=$(BUILD_FUZZ) sh tests/fuzz/run.sh all 0
fuzz: deps
	@sh tests/deps.sh clang libclang-rt-dev
	BUILD=$(BUILD_FUZZ) sh tests/fuzz/run.sh $(FUZZ) $(SECS)

# The demo page in headless Chromium (Debian's chromium + playwright-core
# from npm); screenshots in $(BUILD)/ui-artifacts.
test-ui: all
	BUILD=$(BUILD) bash tests/ui/run.sh

# Container image: build, run on loopback, curl, stop (podman; .ci/run runs it
# after make test: 314 s without the cached base image, 20-115 s with it).
test-docker:
	BUILD=$(BUILD) sh tests/e2e/docker.sh

# Load and scale-out (tests/load/README.md). `load`: the standard scenario ->
# $(BUILD)/load-report.md. `test-scale`: 3 replicas behind nginx, SIGTERM /
# SIGKILL / rejoin under load (about a minute). `test-k8s`: docker/k8s.yaml
# checked offline (tests/deploy/). `soak` (not CI): 10 minutes of mixed load.
load: all
	@sh tests/deps.sh $(DEB_PKGS_LOAD)
	BUILD=$(BUILD) sh tests/load/report.sh
test-scale: all
	@sh tests/deps.sh $(DEB_PKGS_LOAD)
	BUILD=$(BUILD) sh tests/load/scale.sh
test-k8s: all
	@sh tests/deps.sh $(DEB_PKGS_LOAD)
	@command -v kubectl >/dev/null || sh tests/deps.sh kubernetes-client
	BUILD=$(BUILD) sh tests/deploy/k8s_check.sh
soak: all
	@sh tests/deps.sh $(DEB_PKGS_LOAD)
	BUILD=$(BUILD) sh tests/load/soak.sh

# --- run ---------------------------------------------------------------------
PORT ?= 8080
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/skipserve
	@echo "skipserve on :$(PORT) — try:"
	@echo "  curl -s --data-binary @tests/data/shirt.png localhost:$(PORT)/classify"
	@echo "  curl -s --data-binary @tests/data/scene.png -o mask.png localhost:$(PORT)/segment"
	$(BUILD)/skipserve --port $(PORT) --models models

bench: all
	@echo "see bench/README.md"

clean:
	rm -rf $(BUILD)
