# hlibc: newlib built freestanding plus tessera's hooks (see hlibc/doc.go and
# docs/ABI.md §6).
#
#   build/newlib/install/x86_64-elf/{include,lib}   newlib (libc.a, libm.a)
#   build/hlibc/crt0.o                              _start
#   build/hlibc/libtessera.a                        hooks, file system, sandbox platform
#   build/hlibc/libtessera-debug.a                  the same, with the debug platform
#
# newlib is configured and built once (~65 s on 2 cores); the stamp file
# build/newlib/.installed keeps later builds from redoing it. It depends only
# on the tarball and the configuration below (build/newlib/config.sig),
# never on hlibc's own sources.

NEWLIB_TAR  ?= /usr/src/newlib/newlib-3.3.0.tar.xz
NEWLIB      := $(BUILD)/newlib
NEWLIB_SYS  := $(NEWLIB)/install/x86_64-elf
NEWLIB_DONE := $(NEWLIB)/.installed
# Asked of gcc on first use, not when make reads this file: on a fresh
# machine `make test` installs gcc (scripts/deps.sh) before building.
GCC_INC      = $(eval GCC_INC := $$(shell gcc -print-file-name=include))$(GCC_INC)
LIBGCC       = $(eval LIBGCC := $$(shell gcc -print-libgcc-file-name))$(LIBGCC)

# -UMISSING_SYSCALL_NAMES makes libc call _read, _write, ... (our hooks)
# instead of read, write, ...; it must come after newlib's own -D flags.
NEWLIB_CFLAGS := -UMISSING_SYSCALL_NAMES -O2 -g -ffreestanding -fno-stack-protector \
	-fno-pie -fno-asynchronous-unwind-tables -fno-unwind-tables
NEWLIB_CONFIG := --target=x86_64-elf --disable-multilib \
	--disable-newlib-multithread --enable-newlib-io-long-long \
	--enable-newlib-io-c99-formats --enable-newlib-global-atexit \
	--disable-libgloss --disable-nls
NEWLIB_TOOLS := AR_FOR_TARGET=ar AS_FOR_TARGET=as LD_FOR_TARGET=ld NM_FOR_TARGET=nm \
	RANLIB_FOR_TARGET=ranlib OBJDUMP_FOR_TARGET=objdump READELF_FOR_TARGET=readelf \
	STRIP_FOR_TARGET=strip

# build/newlib/config.sig holds the configuration; it is rewritten (and
# newlib rebuilt) only when the configuration above changes.
NEWLIB_SIG := $(NEWLIB_CONFIG) CFLAGS=$(NEWLIB_CFLAGS)
ifneq ($(file < $(NEWLIB)/config.sig),$(NEWLIB_SIG))
$(shell mkdir -p $(NEWLIB))
$(file > $(NEWLIB)/config.sig,$(NEWLIB_SIG))
endif

$(NEWLIB_DONE): $(NEWLIB_TAR) $(NEWLIB)/config.sig
	@echo "hlibc: building newlib from $(NEWLIB_TAR) (about a minute, once)"
	rm -rf $(NEWLIB)/src $(NEWLIB)/obj $(NEWLIB)/install
	mkdir -p $(NEWLIB)/src $(NEWLIB)/obj
	tar -xJf $(NEWLIB_TAR) -C $(NEWLIB)/src --strip-components=1
	cd $(NEWLIB)/obj && ../src/configure $(NEWLIB_CONFIG) \
		--prefix=$(abspath $(NEWLIB))/install \
		CC_FOR_TARGET="gcc -nostdinc -isystem $(GCC_INC)" \
		$(NEWLIB_TOOLS) CFLAGS_FOR_TARGET="$(NEWLIB_CFLAGS)" >configure.log 2>&1 \
		|| { tail -30 configure.log; exit 1; }
	$(MAKE) -C $(NEWLIB)/obj -j$$(nproc) all >$(NEWLIB)/obj/build.log 2>&1 \
		|| { tail -40 $(NEWLIB)/obj/build.log; exit 1; }
	$(MAKE) -C $(NEWLIB)/obj install >$(NEWLIB)/obj/install.log 2>&1 \
		|| { tail -40 $(NEWLIB)/obj/install.log; exit 1; }
	test -f $(NEWLIB_SYS)/lib/libc.a && test -f $(NEWLIB_SYS)/lib/libm.a
	touch $@

.PHONY: newlib
newlib: $(NEWLIB_DONE)

# ---- hlibc itself ----

HLIBC      := $(BUILD)/hlibc
HLIBC_SRC  := hlibc/src
# newlib's headers, with hlibc's additions and replacements first
# (sys/dirent.h, pthread.h, sys/socket.h, sys/mman.h) and tessera.h.
HLIBC_INC   = -nostdinc -isystem hlibc/include/newlib -isystem $(NEWLIB_SYS)/include \
	-isystem $(GCC_INC) -Ihlibc/include
# Code for a function that never makes a system call: no stack protector
# (it would need TLS), no PIE (guests are ET_EXEC at 0x10000), no unwind
# tables (nothing unwinds).
GUEST_BASE_CFLAGS = -std=gnu11 -g -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -ffunction-sections \
	-fdata-sections -Wall -Wextra $(HLIBC_INC)
HLIBC_CFLAGS = $(GUEST_BASE_CFLAGS) -O2 -march=x86-64 -mtune=generic

HLIBC_COMMON  := fs io args start sys unsupported
HLIBC_OBJS    := $(HLIBC_COMMON:%=$(HLIBC)/obj/%.o) $(HLIBC)/obj/exit.o
HLIBC_CRT0    := $(HLIBC)/crt0.o
HLIBC_LIB     := $(HLIBC)/libtessera.a
HLIBC_DBGLIB  := $(HLIBC)/libtessera-debug.a

# -MD, not -MMD: hlibc's replacement headers (hlibc/include/newlib) come
# in through -isystem, which -MMD leaves out of the dependencies. Objects
# also depend on the make files that hold their flags.
$(HLIBC)/obj/%.o: $(HLIBC_SRC)/%.c $(NEWLIB_DONE) hlibc/hlibc.mk
	@mkdir -p $(@D)
	gcc $(HLIBC_CFLAGS) -MD -MP -c -o $@ $<

$(HLIBC)/obj/%.o: $(HLIBC_SRC)/%.S
	@mkdir -p $(@D)
	gcc -c -o $@ $<

$(HLIBC_CRT0): $(HLIBC)/obj/crt0.o
	cp $< $@

$(HLIBC_LIB): $(HLIBC_OBJS) $(HLIBC)/obj/sandbox.o
	rm -f $@
	ar rcs $@ $^

$(HLIBC_DBGLIB): $(HLIBC_OBJS) $(HLIBC)/obj/debug.o
	rm -f $@
	ar rcs $@ $^

-include $(wildcard $(HLIBC)/obj/*.d)

.PHONY: hlibc
hlibc: $(HLIBC_CRT0) $(HLIBC_LIB) $(HLIBC_DBGLIB)
