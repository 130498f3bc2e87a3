# Example and test guests (see guest/doc.go), built by `make guests` into
#
#   build/guests/x86-64/<name>      generic x86-64, for every native backend
#   build/guests/x86-64-v3/<name>   the same sources for -march=x86-64-v3
#   build/guests/x86-64-v4/<name>   ... and -march=x86-64-v4 (AVX-512)
#   build/guests/wasm32/<name>.wasm wasm32-wasi, for the Wasm backend
#   build/guests/debug/<name>       native debug builds (plain Linux programs)
#
# Hostile guests (hostile_*) are built for x86-64 only.

GUEST_SRC := guest/src
GUESTS    := $(BUILD)/guests
GUEST_OBJ := $(BUILD)/obj/guests

# Examples: each has an independent Go reference in package guest.
EXAMPLES := noop basic busy stdio fileio matmul matmac qoi2png access fanout \
	render wordcount_map wordcount_reduce
# Test guests that are not examples but run on every native backend.
CHECKS   := selftest
# Hostile guests: hostile_<case> is guest/src/hostile.c built with
# -DCASE_<case>; the isolation pair has sources of its own.
HOSTILE_CASES := syscall sysenter int80 null_write far_write code_write exec_heap \
	exec_stack exec_data exec_input hlt cli in out cr3 ud2 int3 div0 loop \
	stack_overflow forge_bufs forge_len forge_ident forge_count forge_sets_len \
	exit3 int20 archprctl
HOSTILE  := $(HOSTILE_CASES:%=hostile_%) hostile_scribble hostile_scan
NATIVE_ARCHES := x86-64 x86-64-v3 x86-64-v4

GUEST_CFLAGS_x86-64    := -O3 -march=x86-64 -mtune=generic
GUEST_CFLAGS_x86-64-v3 := -O3 -march=x86-64-v3
GUEST_CFLAGS_x86-64-v4 := -O3 -march=x86-64-v4
GUEST_CFLAGS_debug     := -Og -march=x86-64 -mtune=generic

# Sandbox builds are linked at 0x10000 (the lowest guest address) so that
# the context is not wasted below the image, and keep their symbol table
# (the loader needs __dandelion_system_data) but no debug information.
# Debug builds keep the usual Linux address and everything gdb wants.
GUEST_LDFLAGS := -static -no-pie -nostdlib -Wl,--gc-sections -Wl,-z,noexecstack \
	-Wl,--build-id=none
GUEST_LDFLAGS_native := -Wl,-Ttext-segment=0x10000 -Wl,--strip-debug
GUEST_LIBS = -Wl,--start-group $(1) $(NEWLIB_SYS)/lib/libc.a $(NEWLIB_SYS)/lib/libm.a \
	$(LIBGCC) -Wl,--end-group

# The guest tests fail, rather than skip, when a guest is missing.
export TESSERA_REQUIRE_GUESTS := 1

# Objects depend on the make files that hold their flags.
GUEST_MK := guest/guest.mk hlibc/hlibc.mk

# guest_rules(arch, names, lib, ldflags)
# -MD, not -MMD: hlibc's replacement headers (hlibc/include/newlib) come in
# through -isystem, which -MMD leaves out of the dependencies.
define guest_rules
$(GUEST_OBJ)/$(1)/%.o: $(GUEST_SRC)/%.c $(NEWLIB_DONE) $(GUEST_MK)
	@mkdir -p $$(@D)
	gcc $$(GUEST_BASE_CFLAGS) $(GUEST_CFLAGS_$(1)) $$(EXTRA_CFLAGS) -MD -MP -c -o $$@ $$<

$(GUESTS)/$(1)/%: $(GUEST_OBJ)/$(1)/%.o $(HLIBC_CRT0) $(3)
	@mkdir -p $$(@D)
	gcc $(GUEST_LDFLAGS) $(4) $$(EXTRA_LDFLAGS) -o $$@ $(HLIBC_CRT0) $$< $$(call GUEST_LIBS,$(3))

guests: $(2:%=$(GUESTS)/$(1)/%)
-include $$(wildcard $(GUEST_OBJ)/$(1)/*.d)
endef

# Hostile guests see hlibc's internals (the system data, __tessera_exit).
HOSTILE_CFLAGS := -Ihlibc/src

define hostile_case
$(GUEST_OBJ)/x86-64/hostile_$(1).o: $(GUEST_SRC)/hostile.c $(NEWLIB_DONE) $(GUEST_MK)
	@mkdir -p $$(@D)
	gcc $$(GUEST_BASE_CFLAGS) $(GUEST_CFLAGS_x86-64) $(HOSTILE_CFLAGS) -DCASE_$(1) -MD -MP -c -o $$@ $$<
endef
$(foreach c,$(HOSTILE_CASES),$(eval $(call hostile_case,$(c))))

$(GUEST_OBJ)/x86-64/hostile_scribble.o $(GUEST_OBJ)/x86-64/hostile_scan.o: EXTRA_CFLAGS := $(HOSTILE_CFLAGS)
# scan saves its registers before _start (hostile_scan.c).
$(GUESTS)/x86-64/hostile_scan: EXTRA_LDFLAGS := -Wl,-e,scan_entry

guests: $(HOSTILE:%=$(GUESTS)/x86-64/%)

$(foreach a,$(NATIVE_ARCHES),$(eval $(call guest_rules,$(a),$(EXAMPLES) $(CHECKS),$(HLIBC_LIB),$(GUEST_LDFLAGS_native))))
$(eval $(call guest_rules,debug,$(EXAMPLES) $(CHECKS),$(HLIBC_DBGLIB),))

# wasm32-wasi with clang, lld and Debian's wasi-libc; keys come from the
# host through hlibc/src/tessera_wasm.c. Compiled one file at a time, so
# that each object has its own dependency file (the guests' headers).
WASM_CC     := clang --target=wasm32-wasi
WASM_CFLAGS := -O2 -Wall -Wextra -Ihlibc/include
WASM_OBJ    := $(GUEST_OBJ)/wasm32

$(WASM_OBJ)/%.o: $(GUEST_SRC)/%.c guest/guest.mk
	@mkdir -p $(@D)
	$(WASM_CC) $(WASM_CFLAGS) -MMD -MP -c -o $@ $<

$(WASM_OBJ)/hlibc/tessera_wasm.o: hlibc/src/tessera_wasm.c guest/guest.mk
	@mkdir -p $(@D)
	$(WASM_CC) $(WASM_CFLAGS) -MMD -MP -c -o $@ $<

$(GUESTS)/wasm32/%.wasm: $(WASM_OBJ)/%.o $(WASM_OBJ)/hlibc/tessera_wasm.o
	@mkdir -p $(@D)
	$(WASM_CC) $(WASM_CFLAGS) -o $@ $^ -lm -Wl,--strip-all

-include $(wildcard $(WASM_OBJ)/*.d $(WASM_OBJ)/hlibc/*.d)

guests: hlibc $(EXAMPLES:%=$(GUESTS)/wasm32/%.wasm)

.PHONY: guests
.SECONDARY:

# ---- your own function: make function SRC=path/to/f.c ----
# Builds build/functions/<arch>/<name> for every native arch and debug, and
# build/functions/wasm32/<name>.wasm (name: the file name without .c, or
# NAME=...). Extra C files: SRC="f.c g.c".
FUNCTIONS := $(BUILD)/functions
FUNC_NAME  = $(or $(NAME),$(basename $(notdir $(firstword $(SRC)))))

.PHONY: function
function: hlibc
	@test -n "$(SRC)" || { echo "usage: make function SRC=path/to/f.c [NAME=name]" >&2; exit 2; }
	@mkdir -p $(foreach a,$(NATIVE_ARCHES) debug wasm32,$(FUNCTIONS)/$(a))
	$(foreach a,$(NATIVE_ARCHES),gcc $(GUEST_BASE_CFLAGS) $(GUEST_CFLAGS_$(a)) $(GUEST_LDFLAGS) \
		$(GUEST_LDFLAGS_native) -o $(FUNCTIONS)/$(a)/$(FUNC_NAME) $(HLIBC_CRT0) $(SRC) \
		$(call GUEST_LIBS,$(HLIBC_LIB)) &&) true
	gcc $(GUEST_BASE_CFLAGS) $(GUEST_CFLAGS_debug) $(GUEST_LDFLAGS) -o $(FUNCTIONS)/debug/$(FUNC_NAME) \
		$(HLIBC_CRT0) $(SRC) $(call GUEST_LIBS,$(HLIBC_DBGLIB))
	$(WASM_CC) $(WASM_CFLAGS) -o $(FUNCTIONS)/wasm32/$(FUNC_NAME).wasm $(SRC) hlibc/src/tessera_wasm.c \
		-lm -Wl,--strip-all
