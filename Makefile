# The README's commands. `make demo` and `make test` install what is missing first (Debian 12).
# Nothing here downloads anything but Debian packages.

DEBIAN_PACKAGES := cmake ninja-build g++ pkg-config git ca-certificates curl clang-format \
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev \
  libssl-dev libspdlog-dev libyaml-cpp-dev prometheus-cpp-dev libgtest-dev prometheus openssl

SANITIZER_PRESETS := asan tsan
JOBS ?= $(shell nproc)

.PHONY: deps build demo test test-debug test-sanitizers format format-check bench clean

deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target llmprobe llmprobe-sim

# Command 1: the simulator in the background, the daemon in the foreground on the embedded demo
# config. Metrics at http://127.0.0.1:10087/metrics; Ctrl-C stops both.
demo: build
	@build/release/llmprobe-sim --listen 127.0.0.1:8000 & sim=$$!; \
	trap "kill $$sim 2>/dev/null" EXIT INT TERM; \
	build/release/llmprobe --web.listen-address 127.0.0.1:10087

# Command 2: everything CI checks: formatting, the debug build with -Werror and all tests, then
# the same suite under ASan+UBSan and under TSan.
test: deps format-check test-debug test-sanitizers

test-debug:
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)
	ctest --preset debug -j $(JOBS)
	build/debug/llmprobe --config.check --config.file config/llmprobe.yaml

test-sanitizers:
	@for preset in $(SANITIZER_PRESETS); do \
	  cmake --preset $$preset >/dev/null && \
	  cmake --build --preset $$preset -j $(JOBS) && \
	  ctest --preset $$preset -j $(JOBS) || exit 1; \
	done

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cpp' '*.hpp')

bench: build
	cmake --build --preset release -j $(JOBS) --target parser_bench client_bench
	build/release/parser_bench
	build/release/client_bench

clean:
	rm -rf build
